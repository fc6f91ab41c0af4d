#include "installer/pip_report.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace pycage::installer {
namespace {

const std::string kSha(64, 'a');

std::string ReadData(const std::string& name) {
  std::ifstream in(std::string(PYCAGE_INSTALLER_TEST_DATA) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// One item as pip writes it for a wheel from an index. `name` and `version`
// are pasted into the JSON as they are.
std::string Item(const std::string& name, const std::string& version = "1.0") {
  std::string item = R"({"download_info":{"url":"https://files.example.org/)";
  item += name + "-" + version + R"(-py3-none-any.whl","archive_info":{"hashes":{"sha256":")";
  item += kSha + R"("}}},"is_direct":false,"requested":true,"metadata":{"name":")";
  item += name + R"(","version":")" + version + R"("}})";
  return item;
}

std::string Report(const std::vector<std::string>& items) {
  std::string report = R"({"version":"1","pip_version":"24.0","install":[)";
  for (size_t i = 0; i < items.size(); ++i) report += (i > 0 ? "," : "") + items[i];
  report += R"(],"environment":{"python_version":"3.11"}})";
  return report;
}

// `text` with the first `from` replaced by `to`; fails the test if absent.
std::string With(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

PipReport Ok(const std::string& json, const PipReportLimits& limits = {}) {
  Result<PipReport> report = ParsePipReport(json, limits);
  EXPECT_TRUE(report.ok()) << report.status().message();
  return report.ok() ? report.value() : PipReport{};
}

std::string Err(const std::string& json, const PipReportLimits& limits = {}) {
  Result<PipReport> report = ParsePipReport(json, limits);
  EXPECT_FALSE(report.ok()) << "accepted: " << json.substr(0, 300);
  if (report.ok()) return "<accepted>";
  EXPECT_EQ(report.status().code(), ErrorCode::kInvalidArgument);
  const std::string& message = report.status().message();
  EXPECT_TRUE(message.starts_with("pip report: ")) << message;
  for (char c : message) EXPECT_TRUE(c >= ' ' && c < '\x7f') << message;
  return message;
}

TEST(PipReportTest, ParsesARealReport) {
  const PipReport report = Ok(ReadData("pydash_requests.json"));
  EXPECT_EQ(report.pip_version, "23.2.1");
  std::vector<std::string> names;
  for (const auto& package : report.packages) names.push_back(package.normalized_name);
  EXPECT_EQ(names, (std::vector<std::string>{"certifi", "charset-normalizer", "idna", "pydash", "requests",
                                             "typing-extensions", "urllib3"}));
  for (const auto& package : report.packages) {
    EXPECT_EQ(package.requested, package.name == "pydash" || package.name == "requests") << package.name;
    EXPECT_TRUE(package.url.starts_with("https://files.pythonhosted.org/packages/")) << package.url;
    EXPECT_EQ(package.sha256.size(), 64u) << package.name;
    EXPECT_FALSE(package.version.empty());
  }
  const ResolvedPackage& typing = report.packages[5];
  EXPECT_EQ(typing.name, "typing_extensions");
  EXPECT_EQ(typing.version, "4.16.0");
  const ResolvedPackage& requests = report.packages[4];
  EXPECT_EQ(requests.name, "requests");
  EXPECT_EQ(requests.version, "2.34.2");
  EXPECT_EQ(requests.url,
            "https://files.pythonhosted.org/packages/a0/f4/c67b0b3f1b9245e8d266f0f112c500d50e5b4e83cb6f3b71b6528104182a/"
            "requests-2.34.2-py3-none-any.whl");
  EXPECT_EQ(requests.sha256, "2a0d60c172f83ac6ab31e4554906c0f3b3588d37b5cb939b1c061f4907e278e0");
}

TEST(PipReportTest, SortsByNormalizedNameAndKeepsNamesAsWritten) {
  const PipReport report = Ok(Report({Item("Zope.Interface", "6.0"), Item("a_b"), Item("Django", "5.0rc1")}));
  ASSERT_EQ(report.packages.size(), 3u);
  EXPECT_EQ(report.packages[0].name, "a_b");
  EXPECT_EQ(report.packages[0].normalized_name, "a-b");
  EXPECT_EQ(report.packages[1].name, "Django");
  EXPECT_EQ(report.packages[1].normalized_name, "django");
  EXPECT_EQ(report.packages[1].version, "5.0rc1");
  EXPECT_EQ(report.packages[2].normalized_name, "zope-interface");
  EXPECT_EQ(report.pip_version, "24.0");
}

TEST(PipReportTest, AcceptsAnEmptyInstallList) {
  EXPECT_TRUE(Ok(Report({})).packages.empty());
}

TEST(PipReportTest, IgnoresUnknownFields) {
  std::string item = With(Item("demo"), R"("is_direct":false)",
                          R"("is_direct":false,"is_yanked":false,"requested_extras":["x"],"future":{"a":[1,2]})");
  item = With(item, R"("url":)", R"("mirror":null,"url":)");
  item = With(item, R"("hashes":)", R"("kind":"wheel","hashes":)");
  const std::string report =
      With(Report({item}), R"("pip_version")", R"("x-new-field":[{"deep":{"er":true}}],"pip_version")");
  const PipReport parsed = Ok(report);
  ASSERT_EQ(parsed.packages.size(), 1u);
  EXPECT_EQ(parsed.packages[0].name, "demo");
  EXPECT_TRUE(parsed.packages[0].requested);
  EXPECT_EQ(parsed.packages[0].sha256, kSha);
  EXPECT_EQ(parsed.packages[0].url, "https://files.example.org/demo-1.0-py3-none-any.whl");
}

TEST(PipReportTest, ReadsRequestedFalse) {
  const PipReport report = Ok(Report({With(Item("dep"), R"("requested":true)", R"("requested":false)")}));
  ASSERT_EQ(report.packages.size(), 1u);
  EXPECT_FALSE(report.packages[0].requested);
}

TEST(PipReportTest, ReadsTheHashInEveryForm) {
  const std::string hashes = R"({"hashes":{"sha256":")" + kSha + R"("}})";
  const std::string upper(64, 'B');
  const std::string lower(64, 'b');
  auto sha_of = [&](const std::string& archive_info) {
    const PipReport report = Ok(Report({With(Item("demo"), hashes, archive_info)}));
    return report.packages.empty() ? "<none>" : report.packages[0].sha256;
  };
  EXPECT_EQ(sha_of("{}"), "");
  EXPECT_EQ(sha_of(R"({"hashes":{}})"), "");
  EXPECT_EQ(sha_of(R"({"hashes":{"md5":"abc"}})"), "");
  EXPECT_EQ(sha_of(R"({"hash":"md5=abc"})"), "");
  EXPECT_EQ(sha_of(R"({"hash":"sha256=)" + lower + R"("})"), lower);
  EXPECT_EQ(sha_of(R"({"hashes":{"sha256":")" + upper + R"("}})"), lower);
  EXPECT_EQ(sha_of(R"({"hash":"sha256=)" + upper + R"(","hashes":{"sha256":")" + lower + R"("}})"), lower);
}

TEST(PipReportTest, AcceptsPlainHttpAndPorts) {
  const PipReport report =
      Ok(Report({With(Item("demo"), "https://files.example.org/", "http://127.0.0.1:8080/files/")}));
  ASSERT_EQ(report.packages.size(), 1u);
  EXPECT_EQ(report.packages[0].url, "http://127.0.0.1:8080/files/demo-1.0-py3-none-any.whl");
}

TEST(PipReportTest, RefusesOtherReportVersions) {
  const std::string report = Report({Item("demo")});
  EXPECT_EQ(Err(With(report, R"("version":"1")", R"("version":"2")")),
            "pip report: the report has version '2'; only version \"1\" is understood (is pip much newer?)");
  EXPECT_EQ(Err(With(report, R"("version":"1")", R"("version":1)")),
            "pip report: the report has a non-string 'version'");
  EXPECT_EQ(Err(With(report, R"("version":"1",)", "")), "pip report: the report has no string 'version'");
  EXPECT_EQ(Err(With(report, R"("version":"1")", R"("version":"0")")),
            "pip report: the report has version '0'; only version \"1\" is understood (is pip much newer?)");
}

TEST(PipReportTest, RefusesBadTopLevelShapes) {
  const std::string report = Report({Item("demo")});
  EXPECT_EQ(Err(With(report, R"("pip_version":"24.0",)", "")),
            "pip report: the report has no string 'pip_version'");
  EXPECT_EQ(Err(With(report, R"("pip_version":"24.0")", R"("pip_version":"24 0")")),
            "pip report: the report has an invalid pip_version '24 0'");
  EXPECT_EQ(Err(R"({"version":"1","pip_version":"24.0"})"), "pip report: the report has no array 'install'");
  EXPECT_EQ(Err(R"({"version":"1","pip_version":"24.0","install":{}})"),
            "pip report: the report has a non-array 'install'");
  EXPECT_EQ(Err(R"({"version":"1","pip_version":"24.0","install":[1]})"), "pip report: install[0] is not an object");
  EXPECT_EQ(Err(R"([])"), "pip report: the report is not a JSON object");
  EXPECT_EQ(Err(R"("1")"), "pip report: the report is not a JSON object");
}

TEST(PipReportTest, RefusesMissingOrBadMetadata) {
  const std::string item = Item("demo");
  EXPECT_EQ(Err(Report({Item("ok"), With(item, R"(,"metadata":{"name":"demo","version":"1.0"})", "")})),
            "pip report: install[1] has no object 'metadata'");
  EXPECT_EQ(Err(Report({With(item, R"({"name":"demo","version":"1.0"})", "[]")})),
            "pip report: install[0] has a non-object 'metadata'");
  EXPECT_EQ(Err(Report({With(item, R"("name":"demo",)", "")})),
            "pip report: install[0] metadata has no string 'name'");
  EXPECT_EQ(Err(Report({With(item, R"(,"version":"1.0")", "")})),
            "pip report: install[0] (demo) metadata has no string 'version'");
  EXPECT_EQ(Err(Report({With(item, R"("version":"1.0")", R"("version":null)")})),
            "pip report: install[0] (demo) metadata has a non-string 'version'");
}

TEST(PipReportTest, RefusesInvalidNames) {
  for (const std::string& name : std::vector<std::string>{"", "-demo", "demo.", "de mo", "de/mo", "../x", "d\\u00e9mo", std::string(201, 'a')}) {
    const std::string json = Report({With(Item("demo"), R"("name":"demo")", R"("name":")" + name + "\"")});
    EXPECT_TRUE(Err(json).starts_with("pip report: install[0] metadata has an invalid project name '")) << name;
  }
  EXPECT_EQ(Err(Report({With(Item("demo"), R"("name":"demo")", R"("name":"a\u0001\\b\n")")})),
            "pip report: install[0] metadata has an invalid project name 'a\\x01\\x5cb\\x0a'");
  EXPECT_TRUE(Ok(Report({Item(std::string(200, 'a'))})).packages.size() == 1);
  EXPECT_TRUE(Ok(Report({Item("x")})).packages.size() == 1);
}

TEST(PipReportTest, RefusesInvalidVersions) {
  for (const std::string& version : std::vector<std::string>{"", "1 0", "1.0\\t", "1.\\u00e9", "1\\u0000", std::string(129, '1')}) {
    const std::string json = Report({With(Item("demo"), R"("version":"1.0")", R"("version":")" + version + "\"")});
    EXPECT_TRUE(Err(json).starts_with("pip report: install[0] (demo) metadata has an invalid version '")) << version;
  }
  EXPECT_EQ(Err(Report({With(Item("demo"), R"("version":"1.0")", R"("version":"1 0")")})),
            "pip report: install[0] (demo) metadata has an invalid version '1 0' (want 1 to 128 printable ASCII "
            "characters, no spaces)");
  EXPECT_EQ(Ok(Report({Item("demo", std::string(128, '1'))})).packages.size(), 1u);
  EXPECT_EQ(Ok(Report({Item("demo", "1!2.0.post1+local.7")})).packages.at(0).version, "1!2.0.post1+local.7");
}

TEST(PipReportTest, RefusesDirectUrls) {
  EXPECT_EQ(Err(Report({Item("ok"), With(Item("demo"), R"("is_direct":false)", R"("is_direct":true)")})),
            "pip report: install[1] (demo) is a direct URL requirement (is_direct: true); pycage installs only named "
            "packages from an index");
  EXPECT_EQ(Err(Report({With(Item("demo"), R"("is_direct":false,)", "")})),
            "pip report: install[0] (demo) has no boolean 'is_direct'");
  EXPECT_EQ(Err(Report({With(Item("demo"), R"("is_direct":false)", R"("is_direct":0)")})),
            "pip report: install[0] (demo) has a non-boolean 'is_direct'");
  EXPECT_EQ(Err(Report({With(Item("demo"), R"("requested":true,)", "")})),
            "pip report: install[0] (demo) has no boolean 'requested'");
  EXPECT_EQ(Err(Report({With(Item("demo"), R"("requested":true)", R"("requested":"yes")")})),
            "pip report: install[0] (demo) has a non-boolean 'requested'");
}

TEST(PipReportTest, RefusesLocalAndVcsPackages) {
  // A local directory as pip reports it: is_direct true and dir_info. The
  // is_direct check alone would catch it; dir_info is refused on its own too.
  const std::string dir = With(Item("demo"), R"("archive_info":)", R"("dir_info":{"editable":true},"archive_info":)");
  EXPECT_EQ(Err(Report({dir})),
            "pip report: install[0] (demo) is a local directory (download_info.dir_info); pycage installs only named "
            "packages from an index");
  const std::string vcs = With(Item("demo"), R"("archive_info":)",
                               R"("vcs_info":{"vcs":"git","commit_id":"abc"},"archive_info":)");
  EXPECT_EQ(Err(Report({vcs})),
            "pip report: install[0] (demo) is a VCS checkout (download_info.vcs_info); pycage installs only named "
            "packages from an index");
  // Even an empty or null marker field counts.
  EXPECT_TRUE(Err(Report({With(Item("demo"), R"("archive_info":)", R"("vcs_info":null,"archive_info":)")}))
                  .find("VCS checkout") != std::string::npos);
}

TEST(PipReportTest, AcceptsFileUrlsOfWheelsFromFindLinks) {
  const std::string http_prefix = "https://files.example.org/demo-1.0-py3-none-any.whl";
  const PipReport report = Ok(Report({With(Item("demo"), http_prefix, "file:///pycage/links/0/demo-1.0-py3-none-any.whl")}));
  EXPECT_EQ(report.packages[0].url, "file:///pycage/links/0/demo-1.0-py3-none-any.whl");
}

TEST(PipReportTest, RefusesNonHttpUrls) {
  const std::string http_prefix = "https://files.example.org/demo-1.0-py3-none-any.whl";
  for (const std::string& url : std::vector<std::string>{"file:///tmp/demo-1.0.tar.gz", "file:///", "file://host/x.whl",
        "file:///a/../../x.whl", "ftp://example.org/demo.whl", "git+https://example.org/demo.git",
        "HTTPS://example.org/demo.whl", "https://", "https:///demo.whl", "http:/example.org/demo.whl",
        "https://example.org/de mo.whl", "//example.org/demo.whl", "demo-1.0-py3-none-any.whl", "",
        "https://example.org/\\u00e9.whl", "https://example.org/" + std::string(4096, 'a')}) {
    const std::string json = Report({With(Item("demo"), http_prefix, url)});
    const std::string message = Err(json);
    EXPECT_TRUE(message.starts_with("pip report: install[0] (demo) has a download URL that is neither an http(s) URL nor a file:/// wheel: '"))
        << url << ": " << message;
  }
  EXPECT_EQ(Err(Report({With(Item("demo"), http_prefix, "ftp://example.org/x.whl")})),
            "pip report: install[0] (demo) has a download URL that is neither an http(s) URL nor a file:/// wheel: "
            "'ftp://example.org/x.whl'; pycage installs only from the operator's index and findLinks");
  EXPECT_EQ(Err(Report({With(Item("demo"), "\"" + http_prefix + "\"", "7")})),
            "pip report: install[0] (demo) download_info has a non-string 'url'");
  EXPECT_EQ(Err(Report({With(Item("demo"), "\"url\":\"" + http_prefix + "\",", "")})),
            "pip report: install[0] (demo) download_info has no string 'url'");
}

TEST(PipReportTest, RefusesMissingDownloadInfo) {
  const std::string item = Item("demo");
  const size_t start = item.find(R"({"url")");
  const size_t end = item.find(R"(,"is_direct")");
  const std::string without = R"({"is_direct")" + item.substr(end + 12);
  EXPECT_EQ(Err(Report({without})), "pip report: install[0] (demo) has no object 'download_info'");
  const std::string archive = item.substr(start, end - start);
  EXPECT_EQ(Err(Report({With(item, archive, "\"x\"")})),
            "pip report: install[0] (demo) has a non-object 'download_info'");
  EXPECT_EQ(Err(Report({With(item, R"(,"archive_info":{"hashes":{"sha256":")" + kSha + R"("}})", "")})),
            "pip report: install[0] (demo) download_info has no object 'archive_info'");
}

TEST(PipReportTest, RefusesBadHashes) {
  const std::string hashes = R"({"hashes":{"sha256":")" + kSha + R"("}})";
  auto err = [&](const std::string& archive_info) { return Err(Report({With(Item("demo"), hashes, archive_info)})); };
  EXPECT_EQ(err(R"({"hashes":{"sha256":"abc"}})"),
            "pip report: install[0] (demo) download_info.archive_info.hashes has a sha256 that is not 64 hex digits: "
            "'abc'");
  EXPECT_TRUE(err(R"({"hashes":{"sha256":")" + std::string(63, 'a') + "g\"}}").find("not 64 hex digits") !=
              std::string::npos);
  EXPECT_TRUE(err(R"({"hashes":{"sha256":")" + std::string(65, 'a') + "\"}}").find("not 64 hex digits") !=
              std::string::npos);
  EXPECT_EQ(err(R"({"hashes":{"sha256":1}})"),
            "pip report: install[0] (demo) download_info.archive_info.hashes has a non-string 'sha256'");
  EXPECT_EQ(err(R"({"hashes":[]})"),
            "pip report: install[0] (demo) download_info.archive_info has a non-object 'hashes'");
  EXPECT_EQ(err(R"({"hash":"sha256=xyz"})"),
            "pip report: install[0] (demo) download_info.archive_info has a hash that is not sha256=<64 hex digits>: "
            "'sha256=xyz'");
  EXPECT_EQ(err(R"({"hash":"sha256=)" + std::string(64, 'b') + R"(","hashes":{"sha256":")" + kSha + "\"}}"),
            "pip report: install[0] (demo) download_info.archive_info has a 'hash' and a 'hashes.sha256' that differ");
  EXPECT_EQ(err("[]"), "pip report: install[0] (demo) download_info has a non-object 'archive_info'");
}

TEST(PipReportTest, RefusesDuplicateProjects) {
  EXPECT_EQ(Err(Report({Item("Foo.Bar"), Item("other"), Item("foo-bar", "2.0")})),
            "pip report: install[0] (Foo.Bar) and install[2] (foo-bar) are the same project 'foo-bar'");
  EXPECT_EQ(Err(Report({Item("same"), Item("same")})),
            "pip report: install[0] (same) and install[1] (same) are the same project 'same'");
}

TEST(PipReportTest, RefusesRepeatedKeys) {
  // simdjson would read the first copy, Python's json the last.
  EXPECT_EQ(Err(Report({With(Item("demo"), R"("is_direct":false)", R"("is_direct":false,"is_direct":true)")})),
            "pip report: install[0] (demo) repeats the key 'is_direct'");
  EXPECT_EQ(Err(Report({With(Item("demo"), R"("name":"demo")", R"("name":"demo","name":"evil")")})),
            "pip report: install[0] metadata repeats the key 'name'");
  EXPECT_EQ(Err(With(Report({Item("demo")}), R"("version":"1")", R"("version":"1","version":"2")")),
            "pip report: the report repeats the key 'version'");
  // An escaped key is the same key.
  EXPECT_EQ(Err(Report({With(Item("demo"), R"("url":)", R"("ur\u006c":"file:///x","url":)")})),
            "pip report: install[0] (demo) download_info repeats the key 'url'");
  // Repeats of keys nobody reads are harmless.
  EXPECT_EQ(Ok(Report({With(Item("demo"), R"("name":"demo")", R"("name":"demo","x":1,"x":2)")})).packages.size(), 1u);
}

TEST(PipReportTest, EnforcesThePackageLimit) {
  std::vector<std::string> items;
  for (int i = 0; i < 3; ++i) items.push_back(Item("p" + std::to_string(i)));
  EXPECT_EQ(Ok(Report(items), PipReportLimits{.max_packages = 3}).packages.size(), 3u);
  EXPECT_EQ(Err(Report(items), PipReportLimits{.max_packages = 2}),
            "pip report: the report lists 3 packages, over the limit of 2");

  items.clear();
  for (int i = 0; i < 10000; ++i) items.push_back(Item("p" + std::to_string(i)));
  EXPECT_EQ(Ok(Report(items)).packages.size(), 10000u);
  items.push_back(Item("one-more"));
  EXPECT_EQ(Err(Report(items)), "pip report: the report lists 10001 packages, over the limit of 10000");
}

TEST(PipReportTest, EnforcesTheSizeLimit) {
  const std::string report = Report({Item("demo")});
  EXPECT_EQ(Ok(report, PipReportLimits{.max_bytes = report.size()}).packages.size(), 1u);
  EXPECT_EQ(Err(report, PipReportLimits{.max_bytes = report.size() - 1}),
            "pip report: the report is " + std::to_string(report.size()) + " bytes, over the limit of " +
                std::to_string(report.size() - 1));
  EXPECT_EQ(PipReportLimits{}.max_bytes, size_t{64} << 20);
  // Just over 64 MiB of whitespace: refused before parsing.
  std::string huge = Report({Item("demo")});
  huge.append((size_t{64} << 20) + 1 - huge.size(), ' ');
  EXPECT_TRUE(Err(huge).find("over the limit of 67108864") != std::string::npos);
}

TEST(PipReportTest, EnforcesTheDepthLimit) {
  std::string nested;
  for (int i = 0; i < 40; ++i) nested += "[";
  for (int i = 0; i < 40; ++i) nested += "]";
  // Deep nesting anywhere counts, even in a field nobody reads.
  EXPECT_EQ(Err(With(Report({Item("demo")}), R"("environment":{"python_version":"3.11"})", "\"environment\":" + nested)),
            "pip report: the report nests deeper than 32 levels");
  // The report object is the first level. (simdjson does not count an empty
  // array or object as a level, so the innermost array holds a value.)
  auto environment = [](int levels) {
    return "\"environment\":" + std::string(levels, '[') + "0" + std::string(levels, ']');
  };
  const std::string report = Report({Item("demo")});
  const std::string env = R"("environment":{"python_version":"3.11"})";
  EXPECT_EQ(Ok(With(report, env, environment(31))).packages.size(), 1u);
  EXPECT_EQ(Err(With(report, env, environment(32))), "pip report: the report nests deeper than 32 levels");
  EXPECT_EQ(Err(With(report, env, environment(2000)), PipReportLimits{.max_depth = 5000}),
            "pip report: the report nests deeper than 1024 levels");
  // The real report fits in 6 levels (report, install, item, download_info, archive_info, hashes).
  EXPECT_EQ(Ok(ReadData("pydash_requests.json"), PipReportLimits{.max_depth = 6}).packages.size(), 7u);
  EXPECT_EQ(Err(ReadData("pydash_requests.json"), PipReportLimits{.max_depth = 5}),
            "pip report: the report nests deeper than 5 levels");
}

TEST(PipReportTest, RefusesMalformedJson) {
  const std::string report = Report({Item("demo")});
  for (const std::string& text : std::vector<std::string>{std::string(), std::string("   "), report.substr(0, report.size() - 1), report + "}", report + " x",
        std::string("{\"version\":\"1\",}"), std::string("{'version':'1'}"), With(report, "demo-1.0", "d\xff-1.0"),
        With(report, "\"24.0\"", "\"24.0\\q\""), With(report, "false", "fals"), std::string("nul"),
        std::string("{\"version\":\"1\"") + std::string(1, '\0') + "}"}) {
    EXPECT_TRUE(Err(text).starts_with("pip report: the report is not valid JSON: ")) << text;
  }
}

}  // namespace
}  // namespace pycage::installer
