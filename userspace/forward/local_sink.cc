#include "profkit/forward/local_sink.h"

#include <sys/stat.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "profkit/common/clock.h"
#include "profkit/common/file_util.h"

namespace profkit::forward {
namespace {

// Files with the same end time (several profiles per second, or a restart) get "-1", "-2", ...;
// past this many, something is wrong and writing stops with an error.
constexpr int kMaxCollisionSuffix = 1000;

bool Exists(const std::string& path) {
  struct stat info;
  return lstat(path.c_str(), &info) == 0;
}

}  // namespace

std::string SanitizePathComponent(std::string_view name) {
  std::string out;
  for (const char c : name.substr(0, kMaxPathComponentBytes)) {
    const auto byte = static_cast<unsigned char>(c);
    const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-' || byte >= 0x80;
    out += keep ? c : '_';
  }
  // Don't cut a UTF-8 sequence in half.
  if (name.size() > kMaxPathComponentBytes) {
    size_t end = out.size();
    while (end > 0 && (static_cast<unsigned char>(out[end - 1]) & 0xC0) == 0x80) --end;
    if (end > 0 && static_cast<unsigned char>(out[end - 1]) >= 0xC0) out.resize(end - 1);
  }
  // No "." or "..", no hidden directories.
  for (char& c : out) {
    if (c != '.') break;
    c = '_';
  }
  return out.empty() ? "_" : out;
}

LocalSink::LocalSink(std::string dir) : dir_(std::move(dir)) {}

Result<std::string> LocalSink::Write(const ProfileUpload& upload) {
  if (upload.attachments.empty()) return Status::InvalidInput("writing a profile: no attachments");
  const std::string service_dir = dir_ + "/" + SanitizePathComponent(upload.service);
  PROFKIT_RETURN_IF_ERROR(MakeDirectories(service_dir));

  const std::string timestamp = FormatFileTimestamp(upload.end_unix_nanos);
  std::lock_guard lock(mutex_);
  const bool single = upload.attachments.size() == 1;
  for (int suffix = 0; suffix <= kMaxCollisionSuffix; ++suffix) {
    const std::string stem =
        service_dir + "/" + (suffix == 0 ? timestamp : fmt::format("{}-{}", timestamp, suffix));
    std::vector<std::string> paths;
    for (const Attachment& attachment : upload.attachments) {
      paths.push_back(single ? stem + ".pprof"
                             : stem + "." + SanitizePathComponent(attachment.name));
    }
    if (std::any_of(paths.begin(), paths.end(), Exists)) continue;
    for (size_t i = 0; i < paths.size(); ++i) {
      PROFKIT_RETURN_IF_ERROR(WriteFileAtomically(paths[i], upload.attachments[i].data)
                                  .WithContext("writing a profile"));
    }
    return single ? paths.front() : stem;
  }
  return Status::TooLargef("writing a profile: {}/{}*: more than {} files with this end time",
                           service_dir, timestamp, kMaxCollisionSuffix);
}

}  // namespace profkit::forward
