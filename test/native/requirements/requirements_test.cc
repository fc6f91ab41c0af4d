#include "requirements/requirements.h"

#include <gtest/gtest.h>

#include <string>

namespace pycage::requirements {
namespace {

// The canonical text of `text`, which must parse.
std::string Canon(std::string_view text) {
  Result<RequirementSet> set = ParseRequirements(text);
  EXPECT_TRUE(set.ok()) << set.status().message();
  return set.ok() ? CanonicalText(set.value()) : std::string("<error>");
}

// The error message for `text`, which must be refused.
std::string Err(std::string_view text) {
  Result<RequirementSet> set = ParseRequirements(text);
  EXPECT_FALSE(set.ok()) << "accepted: " << text;
  if (set.ok()) return "<accepted>";
  EXPECT_EQ(set.status().code(), ErrorCode::kRequirementsInvalid);
  return set.status().message();
}

Requirement One(std::string_view text) {
  Result<RequirementSet> set = ParseRequirements(text);
  EXPECT_TRUE(set.ok()) << set.status().message();
  if (!set.ok() || set->requirements.size() != 1) {
    ADD_FAILURE() << "expected one requirement from " << text;
    return {};
  }
  return set->requirements[0];
}

// ---------------------------------------------------------------- accepted

TEST(RequirementsTest, NormalizesNamesPerPep503) {
  EXPECT_EQ(NormalizeName("Django"), "django");
  EXPECT_EQ(NormalizeName("zope.interface"), "zope-interface");
  EXPECT_EQ(NormalizeName("Foo__Bar-._baz"), "foo-bar-baz");
  EXPECT_EQ(NormalizeName("a"), "a");
}

TEST(RequirementsTest, ReadsABareName) {
  const Requirement r = One("Scikit_Learn");
  EXPECT_EQ(r.name, "Scikit_Learn");
  EXPECT_EQ(r.normalized_name, "scikit-learn");
  EXPECT_TRUE(r.extras.empty());
  EXPECT_EQ(r.specifier, "");
  EXPECT_EQ(r.marker, "");
  EXPECT_EQ(r.line, 1u);
}

TEST(RequirementsTest, ReadsSingleCharacterAndDottedNames) {
  EXPECT_EQ(One("x").normalized_name, "x");
  EXPECT_EQ(One("zope.interface>=5").normalized_name, "zope-interface");
  EXPECT_EQ(One("a1-b2_c3.d4").normalized_name, "a1-b2-c3-d4");
}

TEST(RequirementsTest, ReadsExtrasNormalizedSortedAndUnique) {
  const Requirement r = One("requests[Socks, security,socks,Use_Chardet_On_Py3]>=2");
  EXPECT_EQ(r.extras, (std::vector<std::string>{"security", "socks", "use-chardet-on-py3"}));
  EXPECT_EQ(CanonicalLine(r), "requests[security,socks,use-chardet-on-py3]>=2");
  EXPECT_TRUE(One("requests[]").extras.empty());
  EXPECT_EQ(One("requests [ socks ]").extras, (std::vector<std::string>{"socks"}));
}

TEST(RequirementsTest, ReadsEveryVersionOperator) {
  EXPECT_EQ(One("a==1.2").specifier, "==1.2");
  EXPECT_EQ(One("a!=1.2").specifier, "!=1.2");
  EXPECT_EQ(One("a<=1.2").specifier, "<=1.2");
  EXPECT_EQ(One("a>=1.2").specifier, ">=1.2");
  EXPECT_EQ(One("a<1.2").specifier, "<1.2");
  EXPECT_EQ(One("a>1.2").specifier, ">1.2");
  EXPECT_EQ(One("a~=1.2").specifier, "~=1.2");
  EXPECT_EQ(One("a===1.2-Custom").specifier, "===1.2-custom");
  EXPECT_EQ(One("a==1.2.*").specifier, "==1.2.*");
  EXPECT_EQ(One("a!=1.*").specifier, "!=1.*");
  EXPECT_EQ(One("a==1!2.0rc1+local.7").specifier, "==1!2.0rc1+local.7");
  EXPECT_EQ(One("a==1.0.post1-1").specifier, "==1.0.post1-1");
}

TEST(RequirementsTest, NormalizesSpecifierSpacingOrderAndCase) {
  EXPECT_EQ(One("numpy >= 1.2 , < 2").specifier, "<2,>=1.2");
  EXPECT_EQ(One("numpy<2,>=1.2,<2").specifier, "<2,>=1.2");
  EXPECT_EQ(One("numpy (>=1.2, <2)").specifier, "<2,>=1.2");
  EXPECT_EQ(One("numpy==1.0RC1").specifier, "==1.0rc1");
  EXPECT_EQ(One("numpy\t>=\t1").specifier, ">=1");
}

TEST(RequirementsTest, ReadsMarkers) {
  EXPECT_EQ(One("numpy; python_version>='3.9'").marker, "python_version >= \"3.9\"");
  EXPECT_EQ(One("numpy>=1 ;sys_platform == \"linux\" and platform_machine=='x86_64'").marker,
            "sys_platform == \"linux\" and platform_machine == \"x86_64\"");
  EXPECT_EQ(One("a; ( os_name=='posix' or implementation_name == 'pypy' ) and extra == 'test'").marker,
            "(os_name == \"posix\" or implementation_name == \"pypy\") and extra == \"test\"");
  EXPECT_EQ(One("a; 'linux' in sys_platform").marker, "\"linux\" in sys_platform");
  EXPECT_EQ(One("a; sys_platform not in 'win32,cygwin'").marker, "sys_platform not in \"win32,cygwin\"");
  EXPECT_EQ(One("a; python_full_version ~= '3.11.0'").marker, "python_full_version ~= \"3.11.0\"");
  EXPECT_EQ(One("a; platform_python_implementation === 'CPython'").marker,
            "platform_python_implementation === \"CPython\"");
  EXPECT_EQ(One("a[x]>=1;platform_release!='5.15.0-1-amd64'").marker, "platform_release != \"5.15.0-1-amd64\"");
  EXPECT_EQ(One("a; platform_system=='Linux' and platform_version>'1' and implementation_version<'4'").marker,
            "platform_system == \"Linux\" and platform_version > \"1\" and implementation_version < \"4\"");
}

TEST(RequirementsTest, ReadsCommentsBlankLinesCrlfAndLineNumbers) {
  const std::string text =
      "# a comment\r\n"
      "\r\n"
      "   \t\n"
      "numpy>=1  # trailing comment with ümlauts\r\n"
      "pandas#not-a-comment-so-refused\n";
  EXPECT_EQ(Err(text), "requirements line 5: unexpected '#' after 'pandas'; a requirement is a name with optional "
                       "extras, versions and marker, e.g. 'requests[socks]>=2.31,<3; python_version >= \"3.9\"'");
  Result<RequirementSet> set = ParseRequirements("# a comment\r\n\r\n   \t\nnumpy>=1  # trailing\r\n\tpandas\n");
  ASSERT_TRUE(set.ok()) << set.status().message();
  ASSERT_EQ(set->requirements.size(), 2u);
  EXPECT_EQ(set->requirements[0].line, 4u);
  EXPECT_EQ(set->requirements[0].specifier, ">=1");
  EXPECT_EQ(set->requirements[1].line, 5u);
  EXPECT_EQ(CanonicalText(set.value()), "numpy>=1\npandas\n");
}

TEST(RequirementsTest, AcceptsAnEmptySetAsNoPackages) {
  for (std::string_view text : {"", "\n", "# only a comment\n\n", "  \r\n\t\n"}) {
    Result<RequirementSet> set = ParseRequirements(text);
    ASSERT_TRUE(set.ok()) << set.status().message();
    EXPECT_TRUE(set->requirements.empty());
    EXPECT_EQ(CanonicalText(set.value()), "");
  }
}

TEST(RequirementsTest, DropsRepeatsAndKeepsTheFirstLine) {
  Result<RequirementSet> set = ParseRequirements("numpy>=1\nNumPy >= 1\nnumpy>=1 # again\n");
  ASSERT_TRUE(set.ok()) << set.status().message();
  ASSERT_EQ(set->requirements.size(), 1u);
  EXPECT_EQ(set->requirements[0].line, 1u);
}

TEST(RequirementsTest, KeepsOneProjectUnderDifferentMarkers) {
  EXPECT_EQ(Canon("numpy>=2; python_version >= '3.9'\nnumpy<2; python_version < '3.9'\n"),
            "numpy<2; python_version < \"3.9\"\nnumpy>=2; python_version >= \"3.9\"\n");
}

TEST(RequirementsTest, RefusesOneProjectWithDifferentVersionsAndSuggestsTheCombinedLine) {
  EXPECT_EQ(Err("numpy>=1\npandas\nnumpy<2\n"),
            "requirements line 3: 'numpy' is already listed on line 1 with different versions or extras; put it "
            "on one line, e.g. 'numpy<2,>=1'");
  EXPECT_EQ(Err("requests[socks]\nRequests[security]"),
            "requirements line 2: 'requests' is already listed on line 1 with different versions or extras; put it "
            "on one line, e.g. 'requests[security,socks]'");
}

// ------------------------------------------------------- canonical equality

TEST(RequirementsTest, EqualSetsWrittenDifferentlyHaveTheSameCanonicalText) {
  const std::string a =
      "numpy>=1.26,<2\n"
      "pandas[performance]==2.2.*\n"
      "requests[socks,security]~=2.31; python_version >= \"3.9\"\n";
  const std::string b =
      "# our deps\r\n"
      "\r\n"
      "Requests [ Security , SOCKS ] ~= 2.31 ;python_version>='3.9'   # http\r\n"
      "NumPy (< 2 , >= 1.26)\r\n"
      "numpy<2,>=1.26\r\n"
      "\tPANDAS[Performance] == 2.2.*";
  const std::string c = "pandas[performance]==2.2.*\nnumpy<2,>=1.26\nrequests[security,socks]~=2.31;python_version>=\"3.9\"\n";
  EXPECT_EQ(Canon(a), Canon(b));
  EXPECT_EQ(Canon(a), Canon(c));
  EXPECT_EQ(Canon(a),
            "numpy<2,>=1.26\n"
            "pandas[performance]==2.2.*\n"
            "requests[security,socks]~=2.31; python_version >= \"3.9\"\n");
}

TEST(RequirementsTest, UnderscoresDotsAndDashesNameTheSameProject) {
  EXPECT_EQ(Canon("typing_extensions\nzope.interface"), Canon("Typing-Extensions\nzope-interface\n"));
  EXPECT_EQ(Canon("typing_extensions"), "typing-extensions\n");
}

TEST(RequirementsTest, SortsByNormalizedNameFirst) {
  // '-' sorts before '>' so plain string order would put numpy-financial first.
  EXPECT_EQ(Canon("numpy_financial\nnumpy>=1\n"), "numpy>=1\nnumpy-financial\n");
}

TEST(RequirementsTest, CanonicalTextParsesToItself) {
  const std::string canon = Canon("b[y,x]>=1,<3; (os_name == 'posix' or extra=='z') and python_version<'4'\na\n");
  EXPECT_EQ(Canon(canon), canon);
}

// ---------------------------------------------------------------- options

TEST(RequirementsTest, RefusesOptionLinesWithAdvice) {
  const std::string index = "the package index is set by the operator (Sandbox option 'index')";
  const std::string files = "no other file is read; list the requirements themselves in this text";
  const std::string tool = "installer options are chosen by pycage (it installs wheels only); remove it";
  struct Case {
    std::string line;
    std::string option;
    std::string advice;
  };
  const Case cases[] = {
      {"-r other.txt", "-r", files},
      {"--requirement=other.txt", "--requirement", files},
      {"-c constraints.txt", "-c", files},
      {"--constraint constraints.txt", "--constraint", files},
      {"-e .", "-e", "editable installs are not supported; name a released package from the index instead"},
      {"--editable=git+https://x/y", "--editable",
       "editable installs are not supported; name a released package from the index instead"},
      {"-f https://x", "-f", index},
      {"--find-links /tmp", "--find-links", index},
      {"-i https://evil/simple", "-i", index},
      {"--index-url https://evil/simple", "--index-url", index},
      {"--extra-index-url=https://evil/simple", "--extra-index-url", index},
      {"--trusted-host evil", "--trusted-host", index},
      {"--no-index", "--no-index", index},
      {"--hash=sha256:abc", "--hash", "hash pinning is not supported; remove the '--hash' options"},
      {"--pre", "--pre", tool},
      {"--no-binary :all:", "--no-binary", tool},
      {"--only-binary=:none:", "--only-binary", tool},
      {"--config-settings key=value", "--config-settings", tool},
      {"--prefer-binary", "--prefer-binary", tool},
      {"-Z", "-Z", tool},
      {"-", "-", tool},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Err("numpy\n" + c.line + "\n"),
              "requirements line 2: option lines such as '" + c.option + "' are not allowed; " + c.advice)
        << c.line;
  }
}

TEST(RequirementsTest, RefusesOptionsAfterARequirement) {
  EXPECT_EQ(Err("numpy==1.26.4 --hash=sha256:0123456789abcdef"),
            "requirements line 1: options such as '--hash' are not allowed on a requirement line; hash pinning is "
            "not supported; remove the '--hash' options");
  EXPECT_EQ(Err("numpy --index-url http://evil"),
            "requirements line 1: options such as '--index-url' are not allowed on a requirement line; the package "
            "index is set by the operator (Sandbox option 'index')");
  EXPECT_EQ(Err("numpy;--extra-index-url=http://evil"),
            "requirements line 1: options such as '--extra-index-url' are not allowed on a requirement line; the "
            "package index is set by the operator (Sandbox option 'index')");
  EXPECT_EQ(Err("numpy\t-i http://evil"),
            "requirements line 1: options such as '-i' are not allowed on a requirement line; the package index is "
            "set by the operator (Sandbox option 'index')");
  EXPECT_EQ(Err("numpy --config-settings=a=b"),
            "requirements line 1: options such as '--config-settings' are not allowed on a requirement line; "
            "installer options are chosen by pycage (it installs wheels only); remove it");
}

// ------------------------------------------------- URLs, VCS, paths, files

TEST(RequirementsTest, RefusesUrlsAndDirectReferences) {
  const std::string use = "name a package from the index instead, e.g. 'requests>=2.31'";
  EXPECT_EQ(Err("pkg @ https://example.com/pkg-1.0-py3-none-any.whl"), "requirements line 1: URLs are not allowed; " + use);
  EXPECT_EQ(Err("https://example.com/pkg.tar.gz"), "requirements line 1: URLs are not allowed; " + use);
  EXPECT_EQ(Err("numpy @ file:///etc/passwd"), "requirements line 1: URLs are not allowed; " + use);
  EXPECT_EQ(Err("pkg@ftp://x"), "requirements line 1: URLs are not allowed; " + use);
  EXPECT_EQ(Err("pkg @ foo"), "requirements line 1: direct references ('name @ url') are not allowed; " + use);
  EXPECT_EQ(Err("pkg[x]@foo"), "requirements line 1: direct references ('name @ url') are not allowed; " + use);
}

TEST(RequirementsTest, RefusesVcsReferences) {
  const std::string use = "name a package from the index instead, e.g. 'requests>=2.31'";
  EXPECT_EQ(Err("git+https://github.com/x/y.git#egg=y"),
            "requirements line 1: VCS references such as 'git+...' are not allowed; " + use);
  EXPECT_EQ(Err("GIT+ssh://git@github.com/x/y"),
            "requirements line 1: VCS references such as 'git+...' are not allowed; " + use);
  EXPECT_EQ(Err("hg+https://x/y"), "requirements line 1: VCS references such as 'hg+...' are not allowed; " + use);
  EXPECT_EQ(Err("svn+svn://x/y"), "requirements line 1: VCS references such as 'svn+...' are not allowed; " + use);
  EXPECT_EQ(Err("bzr+lp:y"), "requirements line 1: VCS references such as 'bzr+...' are not allowed; " + use);
  EXPECT_EQ(Err("git+git@github.com:x/y.git"),
            "requirements line 1: VCS references such as 'git+...' are not allowed; " + use);
}

TEST(RequirementsTest, RefusesFileReferences) {
  EXPECT_EQ(Err("file:pkg"), "requirements line 1: 'file:' references are not allowed; local files cannot be "
                             "installed, name a package from the index instead, e.g. 'requests>=2.31'");
  EXPECT_EQ(Err("file:///etc/passwd"), "requirements line 1: 'file:' references are not allowed; local files cannot "
                                       "be installed, name a package from the index instead, e.g. 'requests>=2.31'");
}

TEST(RequirementsTest, RefusesLocalPaths) {
  const std::string use = " are not allowed; name a package from the index instead, e.g. 'requests>=2.31'";
  EXPECT_EQ(Err("./pkg"), "requirements line 1: local paths such as './pkg'" + use);
  EXPECT_EQ(Err("."), "requirements line 1: local paths such as '.'" + use);
  EXPECT_EQ(Err("../x"), "requirements line 1: local paths such as '../x'" + use);
  EXPECT_EQ(Err("/abs/pkg"), "requirements line 1: local paths such as '/abs/pkg'" + use);
  EXPECT_EQ(Err("~/pkg"), "requirements line 1: local paths such as '~/pkg'" + use);
  EXPECT_EQ(Err("~user"), "requirements line 1: local paths such as '~user'" + use);
  EXPECT_EQ(Err("C:\\pkgs\\x"), "requirements line 1: local paths such as 'C:\\pkgs\\x'" + use);
  EXPECT_EQ(Err("c:pkg"), "requirements line 1: local paths such as 'c:pkg'" + use);
  EXPECT_EQ(Err("pkgs/numpy"), "requirements line 1: local paths such as 'pkgs/numpy'" + use);
  EXPECT_EQ(Err("pkgs\\numpy>=1"), "requirements line 1: local paths such as 'pkgs\\numpy'" + use);
  EXPECT_EQ(Err("numpy/[x]"), "requirements line 1: local paths such as 'numpy/'" + use);
  EXPECT_EQ(Err("C:\\"), "requirements line 1: local paths such as 'C:\\'" + use);
}

TEST(RequirementsTest, RefusesArchiveNames) {
  const std::string tail = " looks like an archive file; local files are not allowed, name a package from the index "
                           "instead, e.g. 'requests>=2.31'";
  EXPECT_EQ(Err("foo-1.0.tar.gz"), "requirements line 1: 'foo-1.0.tar.gz'" + tail);
  EXPECT_EQ(Err("foo-1.0-py3-none-any.whl"), "requirements line 1: 'foo-1.0-py3-none-any.whl'" + tail);
  EXPECT_EQ(Err("foo.ZIP"), "requirements line 1: 'foo.ZIP'" + tail);
  EXPECT_EQ(Err("foo-1.0.tar.bz2 ; python_version>'3'"), "requirements line 1: 'foo-1.0.tar.bz2'" + tail);
}

// ------------------------------------------------- expansion, bytes, limits

TEST(RequirementsTest, RefusesEnvironmentVariableExpansion) {
  const std::string msg = "requirements line 1: environment variable expansion ('${VAR}' or '$VAR') is not allowed; "
                          "write the value itself";
  EXPECT_EQ(Err("${HOME}/x"), msg);
  EXPECT_EQ(Err("numpy==${VERSION}"), msg);
  EXPECT_EQ(Err("numpy==$VERSION"), msg);
  EXPECT_EQ(Err("numpy; python_version == '$X'"), msg);
  EXPECT_TRUE(ParseRequirements("numpy  # costs $5").ok());
}

TEST(RequirementsTest, RefusesControlBytes) {
  EXPECT_EQ(Err(std::string("numpy\0", 6)),
            "requirements line 1: control byte 0x00 at column 6 is not allowed; requirements are plain text, one "
            "per line");
  EXPECT_EQ(Err("a\nnu\rmpy\n"),
            "requirements line 2: control byte 0x0D at column 3 is not allowed; requirements are plain text, one "
            "per line");
  EXPECT_EQ(Err("a\n# \x1b[31m red comment\n"),
            "requirements line 2: control byte 0x1B at column 3 is not allowed; requirements are plain text, one "
            "per line");
  EXPECT_EQ(Err("numpy\x7f"),
            "requirements line 1: control byte 0x7F at column 6 is not allowed; requirements are plain text, one "
            "per line");
  EXPECT_EQ(Err("numpy\x0b"),
            "requirements line 1: control byte 0x0B at column 6 is not allowed; requirements are plain text, one "
            "per line");
}

TEST(RequirementsTest, RefusesInvalidUtf8) {
  const std::string msg = " is not allowed";
  EXPECT_EQ(Err("numpy # \xff"), "requirements line 1: invalid UTF-8 at column 9; save the text as UTF-8");
  EXPECT_EQ(Err("# \xc0\xaf overlong"), "requirements line 1: invalid UTF-8 at column 3; save the text as UTF-8");
  EXPECT_EQ(Err("# \xed\xa0\x80 surrogate"), "requirements line 1: invalid UTF-8 at column 3; save the text as UTF-8");
  EXPECT_EQ(Err("# \xf4\x90\x80\x80 too high"), "requirements line 1: invalid UTF-8 at column 3; save the text as UTF-8");
  EXPECT_EQ(Err("# truncated \xe2\x82"), "requirements line 1: invalid UTF-8 at column 13; save the text as UTF-8");
}

TEST(RequirementsTest, RefusesNonAsciiOutsideComments) {
  EXPECT_EQ(Err("n\xc3\xbcmpy"),
            "requirements line 1: non-ASCII character at column 2; project names, versions and markers are ASCII "
            "only");
  EXPECT_EQ(Err("  numpy==1.\xe2\x80\x8b"),
            "requirements line 1: non-ASCII character at column 12; project names, versions and markers are ASCII "
            "only");
  EXPECT_TRUE(ParseRequirements("numpy # n\xc3\xbcmpy \xf0\x9f\x90\x8d\n").ok());
}

TEST(RequirementsTest, RefusesLineContinuations) {
  EXPECT_EQ(Err("numpy>=1,\\\n<2\n"),
            "requirements line 1: line continuations (a trailing '\\') are not allowed; write each requirement on "
            "one line");
}

TEST(RequirementsTest, AcceptsExactlyTheLineLimit) {
  std::string text;
  for (int i = 0; i < 999; ++i) text += "# filler\n";
  text += "numpy\n";
  EXPECT_TRUE(ParseRequirements(text).ok());
  std::string no_final_newline;
  for (int i = 0; i < 999; ++i) no_final_newline += "\n";
  no_final_newline += "numpy";
  EXPECT_TRUE(ParseRequirements(no_final_newline).ok());
  EXPECT_EQ(Err(text + "\n"),
            "requirements text has 1001 lines; the limit is 1000 lines; remove comments and blank lines or list "
            "fewer requirements");
  EXPECT_EQ(Err(no_final_newline + "\nx"),
            "requirements text has 1001 lines; the limit is 1000 lines; remove comments and blank lines or list "
            "fewer requirements");
}

TEST(RequirementsTest, AcceptsExactlyTheByteLimit) {
  std::string text = "numpy\n# ";
  text += std::string(kMaxBytes - text.size() - 1, 'x');
  text += "\n";
  ASSERT_EQ(text.size(), 65536u);
  EXPECT_TRUE(ParseRequirements(text).ok());
  EXPECT_EQ(Err(text + "y"),
            "requirements text is 65537 bytes; the limit is 65536 bytes (64 KiB); list fewer requirements");
}

// ---------------------------------------------------------------- grammar

TEST(RequirementsTest, RefusesInvalidNames) {
  EXPECT_EQ(Err("numpy-"), "requirements line 1: 'numpy-' is not a valid project name; it must start and end with "
                           "a letter or digit, with only '-', '_' or '.' inside");
  EXPECT_EQ(Err("_numpy"), "requirements line 1: '_numpy' is not a valid project name; it must start and end with "
                           "a letter or digit, with only '-', '_' or '.' inside");
  EXPECT_EQ(Err(">=1"), "requirements line 1: expected a project name such as 'numpy', got '>'; a requirement is a "
                        "name with optional extras, versions and marker, e.g. 'requests[socks]>=2.31,<3; "
                        "python_version >= \"3.9\"'");
  EXPECT_EQ(Err("num*py"), "requirements line 1: unexpected '*' after 'num'; a requirement is a name with optional "
                           "extras, versions and marker, e.g. 'requests[socks]>=2.31,<3; python_version >= \"3.9\"'");
  EXPECT_EQ(Err("numpy pandas"), "requirements line 1: unexpected 'p' after 'numpy'; a requirement is a name with "
                                 "optional extras, versions and marker, e.g. 'requests[socks]>=2.31,<3; "
                                 "python_version >= \"3.9\"'");
}

TEST(RequirementsTest, EchoesTabsAsSpacesSoMessagesStayPrintable) {
  EXPECT_EQ(Err("numpy\t>=\t1 x"), "requirements line 1: unexpected 'x' after 'numpy >= 1'; a requirement is a name "
                                   "with optional extras, versions and marker, e.g. 'requests[socks]>=2.31,<3; "
                                   "python_version >= \"3.9\"'");
}

TEST(RequirementsTest, RefusesInvalidExtras) {
  EXPECT_EQ(Err("requests[socks"), "requirements line 1: extras are names separated by commas inside '[...]', e.g. "
                                   "'requests[socks,security]'");
  EXPECT_EQ(Err("requests[socks,]"), "requirements line 1: expected an extra name such as 'socks', got ']'; a "
                                     "requirement is a name with optional extras, versions and marker, e.g. "
                                     "'requests[socks]>=2.31,<3; python_version >= \"3.9\"'");
  EXPECT_EQ(Err("requests[-x]"), "requirements line 1: '-x' is not a valid extra name; it must start and end with a "
                                 "letter or digit, with only '-', '_' or '.' inside");
}

TEST(RequirementsTest, RefusesInvalidSpecifiers) {
  EXPECT_EQ(Err("numpy>="), "requirements line 1: '>=' needs a version after it, e.g. '>=1.2'");
  EXPECT_EQ(Err("numpy>=1,"), "requirements line 1: expected a version operator (==, !=, <=, >=, <, >, ~=, ===), got "
                              "the end of the line; write e.g. 'numpy>=1.26,<2'");
  EXPECT_EQ(Err("numpy=1"), "requirements line 1: expected a version operator (==, !=, <=, >=, <, >, ~=, ===), got "
                            "'='; write e.g. 'numpy>=1.26,<2'");
  EXPECT_EQ(Err("numpy>=.1"), "requirements line 1: '.1' is not a valid version; a version starts with a letter or "
                              "digit, e.g. '1.2'");
  EXPECT_EQ(Err("numpy>=1.*"), "requirements line 1: a wildcard version is only allowed as a final '.*' after '==' "
                               "or '!=', e.g. '==1.2.*'; got '>=1.*'");
  EXPECT_EQ(Err("numpy==1.*.2"), "requirements line 1: a wildcard version is only allowed as a final '.*' after '==' "
                                 "or '!=', e.g. '==1.2.*'; got '==1.*.2'");
  EXPECT_EQ(Err("numpy==1*"), "requirements line 1: a wildcard version is only allowed as a final '.*' after '==' or "
                              "'!=', e.g. '==1.2.*'; got '==1*'");
  EXPECT_EQ(Err("numpy~=1"), "requirements line 1: '~=' needs at least two version parts, e.g. '~=1.4'; got '~=1'");
  EXPECT_EQ(Err("numpy (>=1"), "requirements line 1: a '(' before the versions is not closed; add ')' or drop the "
                               "parentheses");
  EXPECT_EQ(Err("numpy==1_0"), "requirements line 1: unexpected '_' after 'numpy==1'; a requirement is a name with "
                               "optional extras, versions and marker, e.g. 'requests[socks]>=2.31,<3; python_version "
                               ">= \"3.9\"'");
}

TEST(RequirementsTest, RefusesInvalidMarkersNamingTheLine) {
  EXPECT_EQ(Err("a\nnumpy;"), "requirements line 2: ';' must be followed by an environment marker, e.g. 'numpy; "
                              "python_version >= \"3.9\"'");
  EXPECT_EQ(Err("numpy; os.name == 'posix'"),
            "requirements line 1: invalid environment marker: 'os.name' is not a marker variable; use "
            "python_version, python_full_version, os_name, sys_platform, platform_release, platform_system, "
            "platform_version, platform_machine, platform_python_implementation, implementation_name, "
            "implementation_version or extra");
  EXPECT_EQ(Err("numpy; python_version >= '3 .9'"),
            "requirements line 1: invalid environment marker: whitespace is not allowed in a marker string; strings "
            "are versions, platform names or extras such as \"3.9\" or \"linux\"");
  EXPECT_EQ(Err("numpy; python_version >= '3\t.9'"),
            "requirements line 1: invalid environment marker: whitespace is not allowed in a marker string; strings "
            "are versions, platform names or extras such as \"3.9\" or \"linux\"");
}

// ---------------------------------------------------------------- injection

TEST(RequirementsTest, RefusesInjectionAttempts) {
  EXPECT_EQ(Err("-r/etc/passwd"), "requirements line 1: option lines such as '-r' are not allowed; no other file is "
                                  "read; list the requirements themselves in this text");
  EXPECT_EQ(Err("  --index-url=http://evil/simple  # looks innocent"),
            "requirements line 1: option lines such as '--index-url' are not allowed; the package index is set by "
            "the operator (Sandbox option 'index')");
  EXPECT_EQ(Err("numpy; python_version > '3' --index-url=x"),
            "requirements line 1: options such as '--index-url' are not allowed on a requirement line; the package "
            "index is set by the operator (Sandbox option 'index')");
  // A string cannot smuggle an option: no spaces inside strings, and "--" is refused anywhere.
  EXPECT_EQ(Err("numpy; extra == 'x --pre'"),
            "requirements line 1: options such as '--pre' are not allowed on a requirement line; installer options "
            "are chosen by pycage (it installs wheels only); remove it");
  EXPECT_EQ(Err("numpy; extra == 'x -i'"),
            "requirements line 1: options such as '-i' are not allowed on a requirement line; the package index is "
            "set by the operator (Sandbox option 'index')");
  EXPECT_EQ(Err("numpy\n-c https://evil/constraints.txt"),
            "requirements line 2: option lines such as '-c' are not allowed; no other file is read; list the "
            "requirements themselves in this text");
  EXPECT_EQ(Err(std::string("numpy\0--index-url=x", 19)),
            "requirements line 1: control byte 0x00 at column 6 is not allowed; requirements are plain text, one "
            "per line");
  EXPECT_EQ(Err("numpy\r--index-url=x"),
            "requirements line 1: control byte 0x0D at column 6 is not allowed; requirements are plain text, one "
            "per line");
  EXPECT_EQ(Err("numpy; extra == \"a\" or extra == \"b\\\" --pre\""),
            "requirements line 1: options such as '--pre' are not allowed on a requirement line; installer options "
            "are chosen by pycage (it installs wheels only); remove it");
  EXPECT_EQ(Err("numpy @ file:///etc/passwd"),
            "requirements line 1: URLs are not allowed; name a package from the index instead, e.g. "
            "'requests>=2.31'");
  EXPECT_EQ(Err("${HOME}/x"), "requirements line 1: environment variable expansion ('${VAR}' or '$VAR') is not "
                              "allowed; write the value itself");
  EXPECT_EQ(Err("numpy\xc2\xa0--index-url=x"),  // NBSP is not whitespace to us: refused as non-ASCII
            "requirements line 1: non-ASCII character at column 6; project names, versions and markers are ASCII "
            "only");
}

TEST(RequirementsTest, ErrorsCarryTheRequirementsCode) {
  Result<RequirementSet> set = ParseRequirements("-r x");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), ErrorCode::kRequirementsInvalid);
  EXPECT_STREQ(ErrorCodeName(set.status().code()), "ERR_REQUIREMENTS_INVALID");
}

}  // namespace
}  // namespace pycage::requirements
