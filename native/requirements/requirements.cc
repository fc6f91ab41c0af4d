#include "requirements/requirements.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <utility>

#include "requirements/echo.h"
#include "requirements/marker.h"

namespace pycage::requirements {
namespace {

constexpr std::string_view kFormatHint =
    "a requirement is a name with optional extras, versions and marker, e.g. "
    "'requests[socks]>=2.31,<3; python_version >= \"3.9\"'";
constexpr std::string_view kUseIndex = "name a package from the index instead, e.g. 'requests>=2.31'";

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsSpace(char c) { return c == ' ' || c == '\t'; }
bool IsNameChar(char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; }
bool IsVersionChar(char c) {
  return IsAlnum(c) || c == '.' || c == '*' || c == '+' || c == '!' || c == '-';
}
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

Status LineError(size_t line, std::string_view why) {
  return Status::Error(ErrorCode::kRequirementsInvalid,
                       "requirements line " + std::to_string(line) + ": " + std::string(why));
}

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 (overlong
// forms, surrogates and code points above U+10FFFF are malformed).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  uint32_t cp = 0;
  if ((lead & 0xE0) == 0xC0) {
    len = 2;
    cp = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    len = 3;
    cp = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    len = 4;
    cp = lead & 0x07;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto cont = static_cast<unsigned char>(s[i + k]);
    if ((cont & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cont & 0x3F);
  }
  constexpr std::array<uint32_t, 5> kMinimum = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinimum[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// Control bytes and malformed UTF-8 are refused anywhere, comments included.
Status CheckBytes(std::string_view raw, size_t line) {
  for (size_t i = 0; i < raw.size();) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c >= 0x80) {
      const size_t len = Utf8SequenceLength(raw, i);
      if (len == 0) {
        return LineError(line, "invalid UTF-8 at column " + std::to_string(i + 1) + "; save the text as UTF-8");
      }
      i += len;
      continue;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7F) {
      std::array<char, 8> hex{};
      std::snprintf(hex.data(), hex.size(), "0x%02X", static_cast<unsigned>(c));
      return LineError(line, "control byte " + std::string(hex.data()) + " at column " + std::to_string(i + 1) +
                                 " is not allowed; requirements are plain text, one per line");
    }
    ++i;
  }
  return Status::Ok();
}

// pip reads '#' at the start of a line or after whitespace as a comment.
std::string_view StripComment(std::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || IsSpace(line[i - 1]))) return line.substr(0, i);
  }
  return line;
}

// The option as pip would read it: a long option's name (up to '=', a space
// or a quote), a short option as its two characters ("-r/etc/passwd" shows
// as '-r').
std::string_view OptionName(std::string_view token) {
  if (token.substr(0, 2) == "--") {
    size_t end = 2;
    while (end < token.size() && (IsAlnum(token[end]) || token[end] == '-' || token[end] == '_')) ++end;
    return token.substr(0, end);
  }
  return token.substr(0, std::min<size_t>(2, token.size()));
}

std::string OptionAdvice(std::string_view option) {
  const std::string o = ToLower(option);
  if (o == "-i" || o == "--index-url" || o == "--extra-index-url" || o == "--no-index" || o == "-f" ||
      o == "--find-links" || o == "--trusted-host") {
    return "the package index is set by the operator (Sandbox option 'index')";
  }
  if (o == "-r" || o == "--requirement" || o == "-c" || o == "--constraint") {
    return "no other file is read; list the requirements themselves in this text";
  }
  if (o == "-e" || o == "--editable") {
    return "editable installs are not supported; name a released package from the index instead";
  }
  if (o == "--hash") return "hash pinning is not supported; remove the '--hash' options";
  return "installer options are chosen by pycage (it installs wheels only); remove it";
}

// pip splits a line at the first whitespace-separated token that starts with
// '-' and reads the rest as options, so any such token (or "--" glued on, as
// in "numpy;--index-url=...") is refused, not only option lines.
Status CheckOptions(std::string_view line, size_t line_no) {
  if (line.front() == '-') {
    const std::string_view option = OptionName(line);
    return LineError(line_no, "option lines such as " + Echo(option) + " are not allowed; " + OptionAdvice(option));
  }
  for (size_t i = 1; i < line.size(); ++i) {
    const bool token_start = line[i] == '-' && IsSpace(line[i - 1]);
    const bool long_option = line.substr(i, 2) == "--";
    if (token_start || long_option) {
      const std::string_view option = OptionName(line.substr(i));
      return LineError(line_no, "options such as " + Echo(option) + " are not allowed on a requirement line; " +
                                    OptionAdvice(option));
    }
  }
  return Status::Ok();
}

bool HasArchiveSuffix(std::string_view lower) {
  constexpr std::array<std::string_view, 10> kSuffixes = {".whl", ".tar.gz", ".tgz", ".zip",  ".tar.bz2",
                                                           ".tbz", ".tar.xz", ".txz", ".tar", ".egg"};
  return std::any_of(kSuffixes.begin(), kSuffixes.end(), [&](std::string_view suffix) {
    return lower.size() > suffix.size() && lower.substr(lower.size() - suffix.size()) == suffix;
  });
}

// URLs, VCS references and local paths, checked before the grammar so the
// message says what the line is rather than which character is unexpected.
Status CheckReferences(std::string_view line, size_t line_no) {
  const std::string lower = ToLower(line);
  for (std::string_view vcs : {"git+", "hg+", "svn+", "bzr+"}) {
    if (lower.starts_with(vcs)) {
      return LineError(line_no, "VCS references such as " + Echo(std::string(vcs) + "...") +
                                    " are not allowed; " + std::string(kUseIndex));
    }
  }
  if (lower.starts_with("file:")) {
    return LineError(line_no, "'file:' references are not allowed; local files cannot be installed, " +
                                  std::string(kUseIndex));
  }
  if (lower.find("://") != std::string::npos) {
    return LineError(line_no, "URLs are not allowed; " + std::string(kUseIndex));
  }
  // The leading token, where the project name belongs.
  size_t end = 0;
  while (end < line.size()) {
    const char c = line[end];
    if (IsSpace(c) || c == '[' || c == ';' || c == ',' || c == '(' || c == '@' || c == '<' || c == '>' || c == '=' ||
        c == '!' || (c == '~' && end > 0 && end + 1 < line.size() && line[end + 1] == '=')) {
      break;
    }
    ++end;
  }
  const std::string_view head = line.substr(0, end);
  const bool drive = head.size() >= 2 && IsAlpha(head[0]) && head[1] == ':';
  if (head.find_first_of("/\\") != std::string_view::npos || head.starts_with('.') || head.starts_with('~') || drive) {
    return LineError(line_no, "local paths such as " + Echo(head) + " are not allowed; " + std::string(kUseIndex));
  }
  if (HasArchiveSuffix(ToLower(head))) {
    return LineError(line_no, Echo(head) + " looks like an archive file; local files are not allowed, " +
                                  std::string(kUseIndex));
  }
  return Status::Ok();
}

// Reads one requirement line that has passed the checks above.
class LineParser {
 public:
  LineParser(std::string_view text, size_t line_no) : text_(text), line_no_(line_no) {}

  Result<Requirement> Parse() {
    Requirement req;
    req.line = line_no_;
    Result<std::string> name = ReadName("a project name such as 'numpy'", "project name");
    if (!name.ok()) return name.status();
    req.name = std::move(name).value();
    req.normalized_name = NormalizeName(req.name);
    SkipSpace();
    if (Peek() == '[') {
      Status s = ReadExtras(req);
      if (!s.ok()) return s;
      SkipSpace();
    }
    if (Peek() == '@') {
      return Error("direct references ('name @ url') are not allowed; " + std::string(kUseIndex));
    }
    Status s = ReadSpecifiers(req);
    if (!s.ok()) return s;
    SkipSpace();
    if (Peek() == ';') {
      const std::string_view marker = Trim(text_.substr(pos_ + 1));
      if (marker.empty()) {
        return Error("';' must be followed by an environment marker, e.g. 'numpy; python_version >= \"3.9\"'");
      }
      Result<std::string> normalized = NormalizeMarker(marker);
      if (!normalized.ok()) return Error(normalized.status().message());
      req.marker = std::move(normalized).value();
      pos_ = text_.size();
    }
    if (pos_ < text_.size()) {
      return Error("unexpected " + Echo(text_.substr(pos_, 1)) + " after " + Echo(Trim(text_.substr(0, pos_))) +
                   "; " + std::string(kFormatHint));
    }
    return req;
  }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void SkipSpace() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
  }
  Status Error(std::string_view why) const { return LineError(line_no_, why); }

  // A PEP 508 identifier: letters and digits, with -_. inside.
  Result<std::string> ReadName(std::string_view expected, std::string_view what) {
    const size_t start = pos_;
    while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
    const std::string_view name = text_.substr(start, pos_ - start);
    if (name.empty()) {
      const std::string got = pos_ < text_.size() ? Echo(text_.substr(pos_, 1)) : "the end of the line";
      return Error("expected " + std::string(expected) + ", got " + got + "; " + std::string(kFormatHint));
    }
    if (!IsAlnum(name.front()) || !IsAlnum(name.back())) {
      return Error(Echo(name) + " is not a valid " + std::string(what) +
                   "; it must start and end with a letter or digit, with only '-', '_' or '.' inside");
    }
    return std::string(name);
  }

  Status ReadExtras(Requirement& req) {
    ++pos_;  // '['
    std::set<std::string> extras;
    SkipSpace();
    if (Peek() != ']') {
      while (true) {
        SkipSpace();
        Result<std::string> extra = ReadName("an extra name such as 'socks'", "extra name");
        if (!extra.ok()) return extra.status();
        extras.insert(NormalizeName(extra.value()));
        SkipSpace();
        if (Peek() == ',') {
          ++pos_;
          continue;
        }
        if (Peek() == ']') break;
        return Error("extras are names separated by commas inside '[...]', e.g. 'requests[socks,security]'");
      }
    }
    ++pos_;  // ']'
    req.extras.assign(extras.begin(), extras.end());
    return Status::Ok();
  }

  Status ReadSpecifiers(Requirement& req) {
    const bool parenthesized = Peek() == '(';
    if (parenthesized) {
      ++pos_;
      SkipSpace();
    }
    std::set<std::string> clauses;
    const char first = Peek();
    if (first == '<' || first == '>' || first == '=' || first == '!' || first == '~') {
      while (true) {
        SkipSpace();
        Result<std::string> clause = ReadClause();
        if (!clause.ok()) return clause.status();
        clauses.insert(std::move(clause).value());
        SkipSpace();
        if (Peek() != ',') break;
        ++pos_;
      }
    }
    if (parenthesized) {
      if (Peek() != ')') return Error("a '(' before the versions is not closed; add ')' or drop the parentheses");
      ++pos_;
    }
    for (const std::string& clause : clauses) {
      if (!req.specifier.empty()) req.specifier += ',';
      req.specifier += clause;
    }
    return Status::Ok();
  }

  Result<std::string> ReadClause() {
    constexpr std::array<std::string_view, 8> kOperators = {"===", "==", "!=", "<=", ">=", "~=", "<", ">"};
    std::string_view op;
    for (std::string_view candidate : kOperators) {
      if (text_.substr(pos_, candidate.size()) == candidate) {
        op = candidate;
        break;
      }
    }
    if (op.empty()) {
      const std::string got = pos_ < text_.size() ? Echo(text_.substr(pos_, 1)) : "the end of the line";
      return Error("expected a version operator (==, !=, <=, >=, <, >, ~=, ===), got " + got +
                   "; write e.g. 'numpy>=1.26,<2'");
    }
    pos_ += op.size();
    SkipSpace();
    const size_t start = pos_;
    while (pos_ < text_.size() && IsVersionChar(text_[pos_])) ++pos_;
    const std::string_view version = text_.substr(start, pos_ - start);
    if (version.empty()) {
      return Error(Echo(op) + " needs a version after it, e.g. '" + std::string(op) + "1.2'");
    }
    if (!IsAlnum(version.front())) {
      return Error(Echo(version) + " is not a valid version; a version starts with a letter or digit, e.g. '1.2'");
    }
    const size_t star = version.find('*');
    if (star != std::string_view::npos) {
      const bool trailing = star + 1 == version.size() && star >= 2 && version[star - 1] == '.';
      if (!trailing || (op != "==" && op != "!=")) {
        return Error("a wildcard version is only allowed as a final '.*' after '==' or '!=', e.g. '==1.2.*'; got " +
                     Echo(std::string(op) + std::string(version)));
      }
    }
    if (op == "~=" && version.find('.') == std::string_view::npos) {
      return Error("'~=' needs at least two version parts, e.g. '~=1.4'; got " +
                   Echo(std::string(op) + std::string(version)));
    }
    // PEP 440 versions compare case-insensitively.
    return std::string(op) + ToLower(version);
  }

  std::string_view text_;
  size_t line_no_;
  size_t pos_ = 0;
};

// Checks and parses one line of text; an empty result means "nothing here".
Result<std::vector<Requirement>> ParseLine(std::string_view raw, size_t line_no) {
  Status s = CheckBytes(raw, line_no);
  if (!s.ok()) return s;
  const std::string_view line = Trim(StripComment(raw));
  if (line.empty()) return std::vector<Requirement>{};
  for (size_t i = 0; i < line.size(); ++i) {
    if (static_cast<unsigned char>(line[i]) >= 0x80) {
      return LineError(line_no, "non-ASCII character at column " + std::to_string(line.data() - raw.data() + i + 1) +
                                    "; project names, versions and markers are ASCII only");
    }
  }
  if (line.find('$') != std::string_view::npos) {
    return LineError(line_no,
                     "environment variable expansion ('${VAR}' or '$VAR') is not allowed; write the value itself");
  }
  s = CheckOptions(line, line_no);
  if (!s.ok()) return s;
  s = CheckReferences(line, line_no);
  if (!s.ok()) return s;
  if (line.back() == '\\') {
    return LineError(line_no, "line continuations (a trailing '\\') are not allowed; write each requirement on one line");
  }
  Result<Requirement> req = LineParser(line, line_no).Parse();
  if (!req.ok()) return req.status();
  return std::vector<Requirement>{std::move(req).value()};
}

std::vector<std::string> SplitClauses(const std::string& specifier) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < specifier.size()) {
    size_t comma = specifier.find(',', start);
    if (comma == std::string::npos) comma = specifier.size();
    out.push_back(specifier.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// The single line that would replace two conflicting ones, for the error.
std::string Combined(const Requirement& a, const Requirement& b) {
  Requirement merged = a;
  std::set<std::string> extras(a.extras.begin(), a.extras.end());
  extras.insert(b.extras.begin(), b.extras.end());
  merged.extras.assign(extras.begin(), extras.end());
  std::set<std::string> clauses;
  for (const std::string& c : SplitClauses(a.specifier)) clauses.insert(c);
  for (const std::string& c : SplitClauses(b.specifier)) clauses.insert(c);
  merged.specifier.clear();
  for (const std::string& c : clauses) {
    if (!merged.specifier.empty()) merged.specifier += ',';
    merged.specifier += c;
  }
  return CanonicalLine(merged);
}

}  // namespace

std::string NormalizeName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == '-' || c == '_' || c == '.') {
      if (out.empty() || out.back() != '-') out += '-';
    } else {
      out += Lower(c);
    }
  }
  return out;
}

Result<RequirementSet> ParseRequirements(std::string_view text) {
  if (text.size() > kMaxBytes) {
    return Status::Error(ErrorCode::kRequirementsInvalid,
                         "requirements text is " + std::to_string(text.size()) + " bytes; the limit is " +
                             std::to_string(kMaxBytes) + " bytes (64 KiB); list fewer requirements");
  }
  const size_t newlines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  const size_t lines = newlines + (!text.empty() && text.back() != '\n' ? 1 : 0);
  if (lines > kMaxLines) {
    return Status::Error(ErrorCode::kRequirementsInvalid,
                         "requirements text has " + std::to_string(lines) + " lines; the limit is " +
                             std::to_string(kMaxLines) + " lines; remove comments and blank lines or list fewer "
                             "requirements");
  }

  RequirementSet set;
  // (normalised name, marker) -> index in set.requirements: the same project
  // under the same marker may appear once (or several times identically).
  std::map<std::pair<std::string, std::string>, size_t> seen;
  size_t line_no = 0;
  size_t start = 0;
  while (start < text.size()) {
    ++line_no;
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(start, end - start);
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);  // CRLF
    start = end + 1;

    Result<std::vector<Requirement>> parsed = ParseLine(raw, line_no);
    if (!parsed.ok()) return parsed.status();
    for (Requirement& req : parsed.value()) {
      auto key = std::make_pair(req.normalized_name, req.marker);
      auto it = seen.find(key);
      if (it == seen.end()) {
        seen.emplace(std::move(key), set.requirements.size());
        set.requirements.push_back(std::move(req));
        continue;
      }
      const Requirement& first = set.requirements[it->second];
      if (first.extras == req.extras && first.specifier == req.specifier) continue;  // a repeat
      return LineError(line_no, Echo(req.normalized_name) + " is already listed on line " + std::to_string(first.line) +
                                    " with different versions or extras; put it on one line, e.g. " +
                                    Echo(Combined(first, req)));
    }
  }
  return set;
}

std::string CanonicalLine(const Requirement& requirement) {
  std::string out = requirement.normalized_name;
  if (!requirement.extras.empty()) {
    out += '[';
    for (size_t i = 0; i < requirement.extras.size(); ++i) {
      if (i > 0) out += ',';
      out += requirement.extras[i];
    }
    out += ']';
  }
  out += requirement.specifier;
  if (!requirement.marker.empty()) out += "; " + requirement.marker;
  return out;
}

std::string CanonicalText(const RequirementSet& set) {
  std::vector<std::pair<std::string, std::string>> rows;
  rows.reserve(set.requirements.size());
  for (const Requirement& req : set.requirements) rows.emplace_back(req.normalized_name, CanonicalLine(req));
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  std::string out;
  for (const auto& row : rows) out += row.second + "\n";
  return out;
}

}  // namespace pycage::requirements
