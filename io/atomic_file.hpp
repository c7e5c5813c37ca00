// Replacing a file so that a crash never leaves half a file under the real name.
#pragma once

#include <functional>
#include <string>

namespace shardmax {

// The hidden temporary name used for `path`: ".<name>.tmp" in the same directory, so a
// leftover from a crash never looks like the real file.
std::string TemporaryPathFor(const std::string& path);

// The directory holding `path` ("." for a bare name).
std::string DirectoryOf(const std::string& path);

// fsyncs `temporary`, renames it to `path` and fsyncs the directory. Throws UserError.
void CommitTemporary(const std::string& temporary, const std::string& path);

// Calls write(temporary) for a temporary name in the same directory, then fsyncs the file,
// renames it to `path` and fsyncs the directory. On failure the temporary is removed, any
// existing `path` is left as it was, and a UserError naming `path` is thrown.
void WriteFileAtomically(const std::string& path,
                         const std::function<void(const std::string& temporary)>& write);

}  // namespace shardmax
