// Replacing a file so that a crash never leaves half a file under the real name.
#pragma once

#include <functional>
#include <string>

namespace shardmax {

// Calls write(temporary) for a temporary name in the same directory, then fsyncs the file,
// renames it to `path` and fsyncs the directory. On failure the temporary is removed, any
// existing `path` is left as it was, and a UserError naming `path` is thrown.
void WriteFileAtomically(const std::string& path,
                         const std::function<void(const std::string& temporary)>& write);

}  // namespace shardmax
