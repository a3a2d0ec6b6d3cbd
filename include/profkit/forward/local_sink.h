#pragma once

#include <mutex>
#include <string>

#include "profkit/common/status.h"
#include "profkit/forward/upload.h"

namespace profkit::forward {

// Writes each upload under <dir>/<service>/ as <FormatFileTimestamp(end)>.pprof, or, with several
// attachments, as <stem>.<attachment name> each. An existing file is never overwritten: the stem
// gets "-1", "-2", ... Files are written atomically. Synchronous; thread-safe (the eBPF flush and
// the Go pullers submit from different threads).
class LocalSink {
 public:
  explicit LocalSink(std::string dir);

  // Returns the path written; with several attachments, the files' common prefix
  // "<dir>/<service>/<stem>".
  Result<std::string> Write(const ProfileUpload& upload);

 private:
  std::string dir_;
  // Held from the collision check to the last write, so that two uploads with the same end time
  // never pick the same name.
  std::mutex mutex_;
};

// A service name made safe as one directory name: only [A-Za-z0-9._-] and non-ASCII bytes kept
// (others become '_'), no leading '.', at most kMaxPathComponentBytes, never empty.
std::string SanitizePathComponent(std::string_view name);

// Keeps directory names well under NAME_MAX (255) so suffixes still fit.
inline constexpr size_t kMaxPathComponentBytes = 128;

}  // namespace profkit::forward
