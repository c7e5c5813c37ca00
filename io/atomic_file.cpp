#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/error.hpp"

namespace shardmax {
namespace {

namespace fs = std::filesystem;

void FsyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) throw UserError("cannot open '" + path + "' to sync it: " + std::strerror(errno));
  const int status = ::fsync(fd);
  const int saved_errno = errno;
  ::close(fd);
  if (status != 0) throw UserError("cannot sync '" + path + "': " + std::strerror(saved_errno));
}

}  // namespace

std::string TemporaryPathFor(const std::string& path) {
  const fs::path target(path);
  // Built by appending: GCC 12 warns falsely (-Wrestrict) about "." + std::string.
  std::string name = ".";
  name += target.filename().string();
  name += ".tmp";
  return (target.parent_path() / name).string();
}

std::string DirectoryOf(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

void CommitTemporary(const std::string& temporary, const std::string& path) {
  FsyncPath(temporary, O_RDONLY);
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    throw UserError("cannot rename '" + temporary + "' to '" + path + "': " + std::strerror(errno));
  }
  FsyncPath(DirectoryOf(path), O_RDONLY | O_DIRECTORY);
}

void WriteFileAtomically(const std::string& path,
                         const std::function<void(const std::string& temporary)>& write) {
  const std::string temporary = TemporaryPathFor(path);
  try {
    write(temporary);
    CommitTemporary(temporary, path);
  } catch (const std::exception& error) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw UserError("writing '" + path + "' failed (any previous file of that name is kept): " +
                    error.what());
  }
}

}  // namespace shardmax
