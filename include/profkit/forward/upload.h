// One profile upload as Dataway receives it: a multipart body whose `event` part (event.json)
// carries the metadata and whose other parts are the profile files. The layout is DataKit's
// (docs/datakit-protocol.md §1), minus its quirks (§5 row 9).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace profkit::forward {

struct Attachment {
  std::string name;  // e.g. "cpu.pprof": the part's field name and filename
  std::string content_type = "application/octet-stream";
  std::string data;
};

struct ProfileUpload {
  std::string service, env, version, host;
  std::string language = "cpp";  // DataKit language value
  std::string profiler = "profkit", format = "pprof";
  // e.g. {"runtime", "..."}; appended after the standard tags.
  std::vector<std::pair<std::string, std::string>> extra_tags;
  int64_t start_unix_nanos = 0, end_unix_nanos = 0;
  std::vector<Attachment> attachments;
};

// "service:..,env:..,version:..,host:..,<extra>...". Keys with empty values are omitted except
// service; an extra tag whose key is already present is skipped (the standard fields win). The
// format has no escaping, so ',' in keys and values and ':' in keys become '_'.
std::string BuildTagsProfiler(const ProfileUpload& upload);

// {"format":..,"profiler":..,"attachments":[..],"language":..,"tags_profiler":..,
//  "start":..,"end":..} with start/end in RFC 3339 with nanoseconds.
std::string BuildEventJson(const ProfileUpload& upload);

struct MultipartBody {
  std::string content_type;  // "multipart/form-data; boundary=..."
  std::string body;
};

// One part of a multipart body being built.
struct MultipartPart {
  std::string name;
  std::string filename;      // used when is_file
  bool is_file = true;       // false: a plain field (no filename parameter)
  std::string content_type;  // "" = no Content-Type line
  std::string_view data;     // must outlive the BuildMultipart call
};

// The parts in order, each with a Content-Disposition (and Content-Type when set) header, under a
// random boundary that occurs in no part.
MultipartBody BuildMultipart(const std::vector<MultipartPart>& parts);

// The `event` part (filename event.json, application/json) first, then one part per attachment
// (name = filename = attachment name). The boundary is random and occurs in no part.
MultipartBody BuildMultipartUpload(const ProfileUpload& upload);

}  // namespace profkit::forward
