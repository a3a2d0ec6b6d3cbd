// Small filesystem helpers. Reads of files that come from outside (/proc, remote data) are always
// bounded by the caller's limit.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "profkit/common/status.h"

namespace profkit {

// Reads at most `max_bytes`; a longer file is an error naming the limit, unless `truncate_ok`.
Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes,
                                    bool truncate_ok = false);

// Writes to "<path>.tmp.<pid>", fsyncs it, then renames over `path`: readers never see a partial
// file and a crash leaves either the old or the new content.
Status WriteFileAtomically(const std::string& path, std::string_view data);

// mkdir -p with mode 0755.
Status MakeDirectories(const std::string& path);

// What follows the last '/' ("libc.so.6" of "/usr/lib/libc.so.6"); the whole path without one.
inline std::string_view PathBasename(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace profkit
