// Listing a directory by fd, for the packer and the extractor's cleanup.
#pragma once

#include <string>
#include <vector>

namespace pycage::store {

// The names in the directory open at `dir_fd` ("." and ".." left out), sorted
// bytewise, or an errno. `dir_fd` stays open and usable.
int ReadDirNames(int dir_fd, std::vector<std::string>* names);

}  // namespace pycage::store
