#pragma once

#include <napi.h>

namespace pycage::addon {

// packDirectory(root, metaJson) -> Promise<{ bytes: Buffer, bundleSha, fileCount, contentBytes }>
// importArchive(buffer, destDir) -> Promise<{ meta, bundleSha, fileCount, contentBytes }>
// Both run on a thread of their own (BackgroundJob) and reject with
// PycageError ERR_INVALID_ARGUMENT naming the offending path or field.
Napi::Value PackDirectoryJs(const Napi::CallbackInfo& info);
Napi::Value ImportArchiveJs(const Napi::CallbackInfo& info);

// parsePipReport(json) -> { pipVersion, packages: [{ name, normalizedName, version, requested, url, sha256 }] }
Napi::Value ParsePipReportJs(const Napi::CallbackInfo& info);

}  // namespace pycage::addon
