// Turns a tracer's upload (v1, v3 or v4 layout; docs/client-protocols.md §2.1) into the upload
// profkit forwards: every file part byte for byte with its own headers, plus one `event.json` in
// DataKit's metadata schema (docs/datakit-protocol.md §1.2, with the fixes of §5 rows 1, 9, 11,
// 12).
//
// Tags: the client's (event `tags_profiler`, or legacy `tags[]` fields), then the sender's pod
// tags filling only what the client left out, < [inputs.profile.tags], which override; `host` is
// filled with the agent's host name when the client sent none. The tags_profiler format has no
// escaping, so in the merged tags ',' becomes '_' in keys and values and ':' becomes '_' in keys (a
// value may contain ':', as the first ':' separates).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/forward/upload.h"
#include "profkit/net/multipart.h"

namespace profkit::ingest {

using Tags = std::vector<std::pair<std::string, std::string>>;

struct RewriteOptions {
  std::string host;  // the agent's host name
  Tags tags;         // [inputs.profile.tags]
  // The sending pod's tags (pod_name, namespace, ..., service/env/version from its labels),
  // matched by the sender's address: they fill only the keys the client did not send.
  Tags sender_tags;
};

struct RewrittenUpload {
  std::string service;     // "" when the client named none
  std::string language;    // DataKit's language value, e.g. "nodejs"; "unknown" when unresolved
  Tags tags;               // the merged tags, in tags_profiler order
  std::string start, end;  // as the client sent them (RFC 3339), "" when absent
  std::vector<const net::Part*> attachments;  // the file parts, into the parsed request
  forward::MultipartBody multipart;
};

// Errors are one line for a 400 answer, naming what is missing or malformed.
Result<RewrittenUpload> RewriteUpload(const std::vector<net::Part>& parts,
                                      const RewriteOptions& options);

// DataKit's language for the first of `values` (language, runtime, family) that resolves: exact
// match of the lowercased value first, then the longest table key contained in it, so
// "javascript" is nodejs, never java. "unknown" when none resolves.
std::string ResolveLanguage(const std::vector<std::string>& values);

// "k:v" → {k, v}; "k" or ":v" → {whole, ""} (DataKit's tag parser).
std::pair<std::string, std::string> ParseTag(std::string_view text);

}  // namespace profkit::ingest
