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

void WriteFileAtomically(const std::string& path,
                         const std::function<void(const std::string& temporary)>& write) {
  const fs::path target(path);
  const fs::path directory = target.has_parent_path() ? target.parent_path() : fs::path(".");
  // Hidden and suffixed, so a leftover from a crash never looks like the real file.
  std::string temporary_name = ".";
  temporary_name += target.filename().string();
  temporary_name += ".tmp";
  const std::string temporary = (directory / temporary_name).string();
  try {
    write(temporary);
    FsyncPath(temporary, O_RDONLY);
    if (std::rename(temporary.c_str(), path.c_str()) != 0) {
      throw UserError("cannot rename '" + temporary + "' to '" + path + "': " +
                      std::strerror(errno));
    }
    FsyncPath(directory.string(), O_RDONLY | O_DIRECTORY);
  } catch (const std::exception& error) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw UserError("writing '" + path + "' failed (any previous file of that name is kept): " +
                    error.what());
  }
}

}  // namespace shardmax
