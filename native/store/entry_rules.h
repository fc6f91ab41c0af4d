// The rules every entry of an archive obeys (ARCHIVE.md "Paths" and
// "Symlinks"), shared by the packer, which refuses to write a tree that breaks
// them, and the reader, which refuses archives that do. Both must agree, or a
// packed bundle could fail to import.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/archive.h"

namespace pycage::store {

struct EntryRules {
  size_t max_path_bytes = 0;
  size_t max_depth = 0;
  std::string_view limits_name;  // "ArchiveLimits" or "PackLimits", named in messages
};

// Builds the refusal for the entry at `path`; `problem` says what is wrong.
using RefuseEntry = std::function<Status(std::string_view path, const std::string& problem)>;

// `text` in double quotes as printable ASCII: `"` and `\` escaped, other
// bytes outside 0x20..0x7e as \xNN, long text cut with "...", so a hostile
// name cannot break an error message or a terminal.
std::string Quote(std::string_view text);

// What is wrong with `path` as an entry path, or "" if nothing is.
std::string PathProblem(std::string_view path, const EntryRules& rules);

// Checks paths, strict bytewise order, that every parent is a dir entry, and
// symlink targets against the whole entry list.
Status CheckEntries(const std::vector<ArchiveEntry>& entries, const EntryRules& rules, const RefuseEntry& refuse);

}  // namespace pycage::store
