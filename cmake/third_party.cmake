# Third-party libraries, linked statically so that the addon and pycage-jail
# need nothing at run time beyond glibc. The addon is loaded into a process
# (node) that may carry its own copies of these libraries, and Node 22+
# exports its simdjson: a dynamic libsimdjson would bind the addon's calls to
# the host's copy, of another version, and crash. Static copies compiled with
# hidden visibility bind inside the addon.

# Sources come from Debian's own release tarballs (Debian ships no PIC static
# archives of these two), checked against the SHA-256 in Debian's .dsc and
# cached outside the build tree, so a machine downloads each one once.
if(DEFINED ENV{PYCAGE_DEPS_CACHE})
  set(_pycage_deps_default "$ENV{PYCAGE_DEPS_CACHE}")
elseif(DEFINED ENV{HOME})
  set(_pycage_deps_default "$ENV{HOME}/.cache/pycage/deps")
else()
  set(_pycage_deps_default "${CMAKE_BINARY_DIR}/_deps")
endif()
set(PYCAGE_DEPS_CACHE "${_pycage_deps_default}" CACHE PATH "Download cache for third-party source tarballs")

# pycage_debian_source(<tarball name> <pool dir> <sha256> <out var>): the
# tarball's top directory, extracted under the build tree.
function(pycage_debian_source tarball pool sha256 out_var)
  set(cached "${PYCAGE_DEPS_CACHE}/${tarball}")
  set(url "http://deb.debian.org/debian/pool/main/${pool}/${tarball}")
  if(NOT EXISTS "${cached}")
    message(STATUS "pycage: downloading ${url}")
    file(DOWNLOAD "${url}" "${cached}.part" EXPECTED_HASH SHA256=${sha256} STATUS status)
    list(GET status 0 rc)
    if(NOT rc EQUAL 0)
      file(REMOVE "${cached}.part")
      list(GET status 1 why)
      message(FATAL_ERROR "pycage: could not download ${url}: ${why}. "
                          "To build offline, put that file at ${cached} (SHA-256 ${sha256}).")
    endif()
    file(RENAME "${cached}.part" "${cached}")
  endif()
  file(SHA256 "${cached}" actual)
  if(NOT actual STREQUAL sha256)
    message(FATAL_ERROR "pycage: ${cached} has SHA-256 ${actual}, expected ${sha256}; delete it to download it again")
  endif()
  string(REGEX REPLACE "\\.orig\\.tar\\.gz$" "" stem "${tarball}")
  string(REPLACE "_" "-" top "${stem}")
  set(dir "${CMAKE_BINARY_DIR}/_deps/${top}")
  if(NOT EXISTS "${dir}/.extracted")
    file(REMOVE_RECURSE "${dir}")
    file(ARCHIVE_EXTRACT INPUT "${cached}" DESTINATION "${CMAKE_BINARY_DIR}/_deps")
    file(TOUCH "${dir}/.extracted")
  endif()
  set(${out_var} "${dir}" PARENT_SCOPE)
endfunction()

# simdjson, from its amalgamated single-file sources.
pycage_debian_source(simdjson_3.0.1.orig.tar.gz s/simdjson
                     156b1bc5eb0561b2bd166b46d191fd3d95a3e709cc63761477d3b7aec2b6e9ed _simdjson_dir)
add_library(pycage_simdjson STATIC "${_simdjson_dir}/singleheader/simdjson.cpp")
# Its header is a system include so our -Wall -Wextra -Werror does not judge it.
target_include_directories(pycage_simdjson SYSTEM PUBLIC "${_simdjson_dir}/singleheader")
target_compile_options(pycage_simdjson PRIVATE -w)
add_library(pycage::simdjson ALIAS pycage_simdjson)

# libseccomp and libuv: Debian's -dev packages ship static archives.
find_package(PkgConfig REQUIRED)
pkg_check_modules(SECCOMP REQUIRED libseccomp)
find_library(PYCAGE_SECCOMP_STATIC NAMES libseccomp.a HINTS ${SECCOMP_LIBRARY_DIRS} REQUIRED)
add_library(pycage::seccomp STATIC IMPORTED)
set_target_properties(pycage::seccomp PROPERTIES IMPORTED_LOCATION "${PYCAGE_SECCOMP_STATIC}"
                                                 INTERFACE_INCLUDE_DIRECTORIES "${SECCOMP_INCLUDEDIR}")

# libuv, with its own CMake project; only the static target is built. The
# supervisor never resolves a hostname, so Debian's deb12u1 patch (to
# uv_getaddrinfo) does not concern it.
pycage_debian_source(libuv1_1.44.2.orig.tar.gz libu/libuv1
                     d79b4b06ef04be85fb890bf39d55942cc64c2e15fd14eaa32dae5dce94485484 _uv_dir)
set(LIBUV_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(LIBUV_BUILD_BENCH OFF CACHE BOOL "" FORCE)
add_subdirectory("${_uv_dir}" "${CMAKE_BINARY_DIR}/_deps/libuv-build" EXCLUDE_FROM_ALL)
target_compile_options(uv_a PRIVATE -w)
add_library(pycage::uv ALIAS uv_a)
