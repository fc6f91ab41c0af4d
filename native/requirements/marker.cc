#include "requirements/marker.h"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "requirements/echo.h"

namespace pycage::requirements {
namespace {

// PEP 508's marker variables. Legacy dotted names (os.name, ...) are refused.
constexpr std::array<std::string_view, 12> kVariables = {
    "python_version",  "python_full_version",  "os_name",
    "sys_platform",    "platform_release",     "platform_system",
    "platform_version", "platform_machine",    "platform_python_implementation",
    "implementation_name", "implementation_version", "extra",
};

// Longest first, so "===" is not read as "==" followed by "=".
constexpr std::array<std::string_view, 8> kComparisons = {"===", "==", "!=", "<=", ">=", "~=", "<", ">"};

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool IsSpace(char c) { return c == ' ' || c == '\t'; }
bool IsWordChar(char c) { return IsAlnum(c) || c == '_' || c == '.'; }
// Marker strings are versions, platform names and extras in practice. Spaces
// and quotes are left out so the canonical text splits into safe tokens.
bool IsStringChar(char c) {
  return IsAlnum(c) || c == '.' || c == '_' || c == '-' || c == '+' || c == '*' || c == '!' || c == '~' ||
         c == ',' || c == ':';
}

enum class TokenKind { kOpen, kClose, kString, kOperator, kWord, kEnd };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string_view text;  // strings: the content without quotes
};

Status MarkerError(std::string why) {
  return Status::Error(ErrorCode::kRequirementsInvalid, "invalid environment marker: " + std::move(why));
}

Result<std::vector<Token>> Tokenize(std::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (true) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    if (i == text.size()) break;
    const char c = text[i];
    if (c == '(' || c == ')') {
      tokens.push_back({c == '(' ? TokenKind::kOpen : TokenKind::kClose, text.substr(i, 1)});
      ++i;
    } else if (c == '"' || c == '\'') {
      const size_t start = i + 1;
      size_t end = start;
      while (end < text.size() && text[end] != c) {
        if (IsSpace(text[end])) {
          return MarkerError("whitespace is not allowed in a marker string; strings are versions, platform names "
                             "or extras such as \"3.9\" or \"linux\"");
        }
        if (!IsStringChar(text[end])) {
          return MarkerError("the character '" + std::string(1, text[end]) +
                             "' is not allowed in a marker string; strings may contain letters, digits and "
                             "'.', '_', '-', '+', '*', '!', '~', ',', ':' (no spaces)");
        }
        ++end;
      }
      if (end == text.size()) return MarkerError("a quoted string is not closed; add the closing " + std::string(1, c));
      tokens.push_back({TokenKind::kString, text.substr(start, end - start)});
      i = end + 1;
    } else if (IsWordChar(c)) {
      const size_t start = i;
      while (i < text.size() && IsWordChar(text[i])) ++i;
      tokens.push_back({TokenKind::kWord, text.substr(start, i - start)});
    } else {
      bool matched = false;
      for (std::string_view op : kComparisons) {
        if (text.substr(i, op.size()) == op) {
          tokens.push_back({TokenKind::kOperator, op});
          i += op.size();
          matched = true;
          break;
        }
      }
      if (!matched) {
        return MarkerError("unexpected character '" + std::string(1, c) +
                           "'; a marker compares variables with quoted strings, e.g. python_version >= \"3.9\"");
      }
    }
  }
  tokens.push_back({TokenKind::kEnd, {}});
  return tokens;
}

// Recursive descent over: or := and ('or' and)*; and := atom ('and' atom)*;
// atom := '(' or ')' | value op value; op := comparison | 'in' | 'not' 'in'.
class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Result<std::string> Parse() {
    Result<std::string> expr = ParseOr(0);
    if (!expr.ok()) return expr;
    if (Peek().kind != TokenKind::kEnd) return Unexpected("'and', 'or' or the end of the marker");
    return expr;
  }

 private:
  const Token& Peek() const { return tokens_[pos_]; }
  bool PeekWord(std::string_view word) const { return Peek().kind == TokenKind::kWord && Peek().text == word; }

  Status Unexpected(std::string_view expected) const {
    const Token& t = Peek();
    std::string got;
    switch (t.kind) {
      case TokenKind::kEnd: got = "the end of the marker"; break;
      case TokenKind::kString: got = "the string " + Echo(t.text); break;
      default: got = Echo(t.text); break;
    }
    return MarkerError("expected " + std::string(expected) + ", got " + got);
  }

  Result<std::string> ParseOr(size_t depth) {
    Result<std::string> left = ParseAnd(depth);
    if (!left.ok()) return left;
    std::string out = std::move(left).value();
    while (PeekWord("or")) {
      ++pos_;
      Result<std::string> right = ParseAnd(depth);
      if (!right.ok()) return right;
      out += " or " + right.value();
    }
    return out;
  }

  Result<std::string> ParseAnd(size_t depth) {
    Result<std::string> left = ParseAtom(depth);
    if (!left.ok()) return left;
    std::string out = std::move(left).value();
    while (PeekWord("and")) {
      ++pos_;
      Result<std::string> right = ParseAtom(depth);
      if (!right.ok()) return right;
      out += " and " + right.value();
    }
    return out;
  }

  Result<std::string> ParseAtom(size_t depth) {
    if (Peek().kind == TokenKind::kOpen) {
      if (depth >= kMaxMarkerDepth) {
        return MarkerError("parentheses nest more than " + std::to_string(kMaxMarkerDepth) + " deep; simplify it");
      }
      ++pos_;
      Result<std::string> inner = ParseOr(depth + 1);
      if (!inner.ok()) return inner;
      if (Peek().kind != TokenKind::kClose) return Unexpected("')'");
      ++pos_;
      return "(" + inner.value() + ")";
    }
    Result<std::string> left = ParseValue();
    if (!left.ok()) return left;
    std::string op;
    if (Peek().kind == TokenKind::kOperator) {
      op = std::string(Peek().text);
      ++pos_;
    } else if (PeekWord("in")) {
      op = "in";
      ++pos_;
    } else if (PeekWord("not")) {
      ++pos_;
      if (!PeekWord("in")) return Unexpected("'in' after 'not'");
      ++pos_;
      op = "not in";
    } else {
      return Unexpected("a comparison (==, !=, <, <=, >, >=, ~=, ===, in, not in)");
    }
    Result<std::string> right = ParseValue();
    if (!right.ok()) return right;
    return left.value() + " " + op + " " + right.value();
  }

  Result<std::string> ParseValue() {
    const Token& t = Peek();
    if (t.kind == TokenKind::kString) {
      ++pos_;
      std::string quoted = "\"";  // appends, not operator+: see echo.h on GCC 12
      quoted.append(t.text);
      quoted.push_back('"');
      return quoted;
    }
    if (t.kind == TokenKind::kWord) {
      for (std::string_view var : kVariables) {
        if (t.text == var) {
          ++pos_;
          return std::string(var);
        }
      }
      return MarkerError(Echo(t.text) +
                         " is not a marker variable; use python_version, python_full_version, os_name, "
                         "sys_platform, platform_release, platform_system, platform_version, platform_machine, "
                         "platform_python_implementation, implementation_name, implementation_version or extra");
    }
    return Unexpected("a marker variable such as python_version or a quoted string");
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::string> NormalizeMarker(std::string_view text) {
  Result<std::vector<Token>> tokens = Tokenize(text);
  if (!tokens.ok()) return tokens.status();
  return Parser(std::move(tokens).value()).Parse();
}

}  // namespace pycage::requirements
