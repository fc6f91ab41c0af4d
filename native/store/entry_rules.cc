#include "store/entry_rules.h"

#include <simdjson.h>

#include <array>
#include <cstdio>
#include <unordered_map>

namespace pycage::store {
namespace {

constexpr size_t kRootNode = static_cast<size_t>(-1);
constexpr size_t kQuoteMaxBytes = 160;

std::string ByteHex(unsigned char byte) {
  std::array<char, 8> text{};
  std::snprintf(text.data(), text.size(), "0x%02X", static_cast<unsigned>(byte));
  return text.data();
}

// Control bytes (they would break messages, terminals and the tools that
// print file lists) and malformed UTF-8 (Python and JSON need UTF-8).
std::string BytesProblem(std::string_view text, const char* what) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7f) {
      return std::string(what) + " has control byte " + ByteHex(byte) + " at byte " + std::to_string(i);
    }
  }
  if (!simdjson::validate_utf8(text.data(), text.size())) return std::string(what) + " is not valid UTF-8";
  return "";
}

// "<what> is 9 bytes, over the 8-byte limit (ArchiveLimits.max_path_bytes)".
std::string OverLimit(const char* what, size_t size, size_t limit, const char* amount, const char* unit,
                      const EntryRules& rules, const char* field) {
  return std::string(what) + " is " + std::to_string(size) + " " + amount + ", over the " + std::to_string(limit) +
         "-" + unit + " limit (" + std::string(rules.limits_name) + "." + field + ")";
}

// A component below a node: the key of the tree that symlink targets are
// resolved in, so each step costs the component's length, not the path's.
struct ChildKey {
  size_t parent;
  std::string_view name;
  bool operator==(const ChildKey&) const = default;
};

struct ChildKeyHash {
  size_t operator()(const ChildKey& key) const {
    return std::hash<std::string_view>()(key.name) ^ (key.parent * 0x9e3779b97f4a7c15ULL);
  }
};

struct EntryTree {
  std::vector<size_t> parent;  // entry index, or kRootNode
  std::unordered_map<ChildKey, size_t, ChildKeyHash> children;
};

// Resolves `target` lexically from the directory holding the link. Steps
// into entries that do not exist (or are files) are tracked by count only:
// the kernel would stop there, but ".." must still not climb above the root.
std::string TargetProblem(const ArchiveEntry& link, size_t link_parent, const std::vector<ArchiveEntry>& entries,
                          const EntryTree& tree, const EntryRules& rules) {
  const std::string_view target = link.target;
  if (target.empty()) return "symlink target is empty";
  if (target.size() > rules.max_path_bytes) {
    return OverLimit("symlink target", target.size(), rules.max_path_bytes, "bytes", "byte", rules, "max_path_bytes");
  }
  if (std::string problem = BytesProblem(target, "symlink target"); !problem.empty()) return problem;
  if (target.front() == '/') {
    return "symlink target " + Quote(target) + " is absolute; only relative links that stay inside the bundle are allowed";
  }
  size_t node = link_parent;
  size_t off_tree = 0;
  size_t start = 0;
  while (start <= target.size()) {
    size_t end = target.find('/', start);
    if (end == std::string_view::npos) end = target.size();
    const std::string_view component = target.substr(start, end - start);
    const bool last = end == target.size();
    start = end + 1;
    if (component.empty()) {
      return "symlink target " + Quote(target) + " has an empty component (\"//\" or a trailing \"/\")";
    }
    if (component == ".") continue;
    if (component == "..") {
      if (off_tree > 0) {
        --off_tree;
      } else if (node == kRootNode) {
        return "symlink target " + Quote(target) + " leaves the archive root";
      } else {
        node = tree.parent[node];
      }
      continue;
    }
    if (off_tree > 0) {
      ++off_tree;
      continue;
    }
    const auto child = tree.children.find(ChildKey{node, component});
    if (child == tree.children.end()) {
      ++off_tree;
      continue;
    }
    const ArchiveEntry& entry = entries[child->second];
    if (entry.type == EntryType::kSymlink && !last) {
      // The kernel would follow that link, and ".." after it climbs from
      // wherever it points: lexical checks mean nothing past it.
      return "symlink target " + Quote(target) + " passes through symlink " + Quote(entry.path) +
             "; a link may not lead through another link";
    }
    if (entry.type == EntryType::kDir) {
      node = child->second;
    } else {
      ++off_tree;
    }
  }
  return "";
}

}  // namespace

std::string Quote(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "\"";
  const std::string_view shown = text.substr(0, kQuoteMaxBytes);
  for (const char c : shown) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20 || byte >= 0x7f) {
      out.append("\\x");
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  out.append(text.size() > shown.size() ? "...\"" : "\"");
  return out;
}

std::string PathProblem(std::string_view path, const EntryRules& rules) {
  if (path.empty()) return "path is empty";
  if (path.size() > rules.max_path_bytes) {
    return OverLimit("path", path.size(), rules.max_path_bytes, "bytes", "byte", rules, "max_path_bytes");
  }
  if (std::string problem = BytesProblem(path, "path"); !problem.empty()) return problem;
  if (path.front() == '/') return "path is absolute (starts with \"/\")";
  if (path.back() == '/') return "path ends with \"/\"";
  size_t components = 0;
  long level = 0;
  bool dot_dot = false;
  bool escapes = false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view component = path.substr(start, end - start);
    start = end + 1;
    ++components;
    if (component.empty()) return "path has an empty component (\"//\")";
    if (component == ".") return "path has a \".\" component";
    if (component == "..") {
      dot_dot = true;
      if (--level < 0) escapes = true;
    } else {
      ++level;
    }
  }
  if (escapes) return "path leaves the archive root (\"..\" component)";
  if (dot_dot) return "path has a \"..\" component";
  if (components > rules.max_depth) {
    return OverLimit("path", components, rules.max_depth, "levels deep", "level", rules, "max_depth");
  }
  return "";
}

Status CheckEntries(const std::vector<ArchiveEntry>& entries, const EntryRules& rules, const RefuseEntry& refuse) {
  EntryTree tree;
  tree.parent.resize(entries.size(), kRootNode);
  tree.children.reserve(entries.size());
  std::unordered_map<std::string_view, size_t> by_path;
  by_path.reserve(entries.size());

  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& path = entries[i].path;
    if (std::string problem = PathProblem(path, rules); !problem.empty()) return refuse(path, problem);
    if (i > 0) {
      const int order = path.compare(entries[i - 1].path);
      if (order == 0) return refuse(path, "entry appears twice");
      if (order < 0) {
        return refuse(path, "entry is out of order after " + Quote(entries[i - 1].path) +
                                "; entries must be sorted by path, bytewise");
      }
    }
    const size_t slash = path.rfind('/');
    std::string_view name = path;
    if (slash != std::string::npos) {
      const std::string_view parent_path = std::string_view(path).substr(0, slash);
      name = std::string_view(path).substr(slash + 1);
      const auto parent = by_path.find(parent_path);
      if (parent == by_path.end()) {
        return refuse(path, "parent directory " + Quote(parent_path) +
                                " is not an entry (every parent must be listed as a \"dir\" entry before its children)");
      }
      const ArchiveEntry& parent_entry = entries[parent->second];
      if (parent_entry.type == EntryType::kSymlink) {
        return refuse(path, "entry lies under symlink " + Quote(parent_path) +
                                "; an entry below a symlink could be written outside the bundle");
      }
      if (parent_entry.type != EntryType::kDir) {
        return refuse(path, "entry lies under " + Quote(parent_path) + ", which is a file, not a directory");
      }
      tree.parent[i] = parent->second;
    }
    by_path.emplace(path, i);
    tree.children.emplace(ChildKey{tree.parent[i], name}, i);
  }

  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].type != EntryType::kSymlink) continue;
    if (std::string problem = TargetProblem(entries[i], tree.parent[i], entries, tree, rules); !problem.empty()) {
      return refuse(entries[i].path, problem);
    }
  }
  return Status::Ok();
}

}  // namespace pycage::store
