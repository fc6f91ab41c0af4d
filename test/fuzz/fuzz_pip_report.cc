// Feeds arbitrary bytes to the pip report parser and checks, beyond "no
// crash", what the installer relies on:
//  - a refusal is ERR_INVALID_ARGUMENT with one printable ASCII line starting
//    with "pip report: ";
//  - an accepted report lists packages strictly sorted by PEP 503 name, each
//    with a valid name, a printable version, an http(s) or file:///….whl URL and a sha256 that
//    is empty or 64 lowercase hex digits;
//  - tighter limits never accept what the defaults refuse, and accept with
//    the same result;
//  - the accepted packages, written back as a minimal report, parse to the
//    same packages.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/json_writer.h"
#include "installer/pip_report.h"
#include "requirements/requirements.h"

namespace {

using pycage::ErrorCode;
using pycage::JsonObjectWriter;
using pycage::Result;
using pycage::installer::ParsePipReport;
using pycage::installer::PipReport;
using pycage::installer::PipReportLimits;
using pycage::installer::ResolvedPackage;

void Check(bool ok) {
  if (!ok) std::abort();
}

bool Visible(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < '\x7f'; });
}

bool Printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= ' ' && c < '\x7f'; });
}

bool LowerHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool SamePackages(const PipReport& a, const PipReport& b) {
  if (a.packages.size() != b.packages.size()) return false;
  for (size_t i = 0; i < a.packages.size(); ++i) {
    const ResolvedPackage& x = a.packages[i];
    const ResolvedPackage& y = b.packages[i];
    if (x.name != y.name || x.normalized_name != y.normalized_name || x.version != y.version ||
        x.requested != y.requested || x.url != y.url || x.sha256 != y.sha256) {
      return false;
    }
  }
  return true;
}

std::string Rewrite(const PipReport& report) {
  std::string install = "[";
  for (const ResolvedPackage& p : report.packages) {
    const std::string archive =
        p.sha256.empty() ? "{}"
                         : JsonObjectWriter().Raw("hashes", JsonObjectWriter().String("sha256", p.sha256).Finish()).Finish();
    const std::string item =
        JsonObjectWriter()
            .Raw("download_info", JsonObjectWriter().String("url", p.url).Raw("archive_info", archive).Finish())
            .Raw("is_direct", "false")
            .Raw("requested", p.requested ? "true" : "false")
            .Raw("metadata", JsonObjectWriter().String("name", p.name).String("version", p.version).Finish())
            .Finish();
    if (install.size() > 1) install += ",";
    install += item;
  }
  install += "]";
  return JsonObjectWriter().String("version", "1").String("pip_version", report.pip_version).Raw("install", install).Finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  const Result<PipReport> report = ParsePipReport(json);
  const PipReportLimits tight{.max_bytes = 4096, .max_packages = 3, .max_depth = 8};
  const Result<PipReport> tight_report = ParsePipReport(json, tight);
  if (!report.ok()) {
    Check(report.status().code() == ErrorCode::kInvalidArgument);
    const std::string& message = report.status().message();
    Check(message.starts_with("pip report: ") && Printable(message));
    Check(!tight_report.ok());
    return 0;
  }

  Check(Visible(report->pip_version) && !report->pip_version.empty());
  for (size_t i = 0; i < report->packages.size(); ++i) {
    const ResolvedPackage& p = report->packages[i];
    if (i > 0) Check(report->packages[i - 1].normalized_name < p.normalized_name);
    Check(!p.name.empty() && p.name.size() <= pycage::installer::kMaxPipNameBytes && Visible(p.name));
    Check(p.normalized_name == pycage::requirements::NormalizeName(p.name));
    Check(p.normalized_name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos);
    Check(!p.version.empty() && p.version.size() <= pycage::installer::kMaxPipVersionBytes && Visible(p.version));
    Check((p.url.starts_with("https://") || p.url.starts_with("http://") ||
           (p.url.starts_with("file:///") && p.url.ends_with(".whl"))) &&
          Visible(p.url));
    Check(p.sha256.empty() || LowerHex64(p.sha256));
  }
  if (tight_report.ok()) {
    Check(SamePackages(*report, *tight_report) && report->pip_version == tight_report->pip_version);
  } else {
    const std::string& message = tight_report.status().message();
    Check(message.find("over the limit") != std::string::npos || message.find("nests deeper") != std::string::npos);
  }

  const Result<PipReport> again = ParsePipReport(Rewrite(*report));
  Check(again.ok() && SamePackages(*report, *again) && again->pip_version == report->pip_version);
  return 0;
}
