#include "store_binding.h"

#include <memory>
#include <string>

#include "addon_data.h"
#include "background_job.h"
#include "installer/pip_report.h"
#include "store/archive.h"

namespace pycage::addon {
namespace {

bool IsAbsolutePath(const Napi::Value& value) {
  return value.IsString() && value.As<Napi::String>().Utf8Value().rfind('/', 0) == 0;
}

}  // namespace

Napi::Value PackDirectoryJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !IsAbsolutePath(info[0])) {
    return ThrowInvalidArgument(env, "Expected absolute path for packDirectory(root, metaJson) root");
  }
  if (!info[1].IsString()) return ThrowInvalidArgument(env, "Expected JSON object text for packDirectory metaJson");
  std::string root = info[0].As<Napi::String>().Utf8Value();
  std::string meta = info[1].As<Napi::String>().Utf8Value();
  return BackgroundJob<store::PackedArchive>::Start(
      env, "pycage-pack",
      [root = std::move(root), meta = std::move(meta)]() { return store::PackDirectory(root, meta, store::PackLimits{}); },
      [](Napi::Env env, store::PackedArchive& packed) -> Napi::Value {
        // The archive moves into the Buffer without a copy.
        auto* bytes = new std::string(std::move(packed.bytes));
        Napi::Object out = Napi::Object::New(env);
        out.Set("bytes", Napi::Buffer<char>::New(env, bytes->data(), bytes->size(),
                                                 [](Napi::Env, char*, std::string* owned) { delete owned; }, bytes));
        out.Set("bundleSha", packed.bundle_sha);
        out.Set("fileCount", Napi::Number::New(env, static_cast<double>(packed.file_count)));
        out.Set("contentBytes", Napi::Number::New(env, static_cast<double>(packed.content_bytes)));
        return out;
      });
}

Napi::Value ImportArchiveJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return ThrowInvalidArgument(env, "Expected Buffer for importArchive(buffer, destDir) buffer");
  }
  if (!IsAbsolutePath(info[1])) return ThrowInvalidArgument(env, "Expected absolute path for importArchive destDir");
  auto array = info[0].As<Napi::Uint8Array>();
  // The bytes are read in place; BackgroundJob keeps the Buffer referenced.
  std::string_view bytes(reinterpret_cast<const char*>(array.Data()), array.ByteLength());
  std::string dest = info[1].As<Napi::String>().Utf8Value();
  return BackgroundJob<store::ParsedArchive>::Start(
      env, "pycage-import",
      [bytes, dest = std::move(dest)]() -> Result<store::ParsedArchive> {
        Result<store::ParsedArchive> parsed = store::ParseArchive(bytes, store::ArchiveLimits{});
        if (!parsed.ok()) return parsed.status();
        if (Status s = store::ExtractArchive(*parsed, bytes, dest); !s.ok()) return s;
        return parsed;
      },
      [](Napi::Env env, store::ParsedArchive& parsed) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("meta", parsed.meta_json);
        out.Set("bundleSha", parsed.bundle_sha);
        out.Set("fileCount", Napi::Number::New(env, static_cast<double>(parsed.file_count)));
        out.Set("contentBytes", Napi::Number::New(env, static_cast<double>(parsed.content_bytes)));
        return out;
      },
      info[0]);
}

Napi::Value ParsePipReportJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return ThrowInvalidArgument(env, "Expected string for parsePipReport(json)");
  const std::string json = info[0].As<Napi::String>().Utf8Value();
  Result<installer::PipReport> report = installer::ParsePipReport(json);
  if (!report.ok()) return ThrowStatus(env, report.status());
  Napi::Object out = Napi::Object::New(env);
  out.Set("pipVersion", report->pip_version);
  Napi::Array packages = Napi::Array::New(env, report->packages.size());
  for (size_t i = 0; i < report->packages.size(); ++i) {
    const installer::ResolvedPackage& p = report->packages[i];
    Napi::Object item = Napi::Object::New(env);
    item.Set("name", p.name);
    item.Set("normalizedName", p.normalized_name);
    item.Set("version", p.version);
    item.Set("requested", Napi::Boolean::New(env, p.requested));
    item.Set("url", p.url);
    item.Set("sha256", p.sha256);
    packages.Set(static_cast<uint32_t>(i), item);
  }
  out.Set("packages", packages);
  return out;
}

}  // namespace pycage::addon
