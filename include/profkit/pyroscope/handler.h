// The request logic of a Pyroscope listener, free of HTTP plumbing so that it is tested without
// sockets: parse, convert to pprof, build the upload, hand it over durably, and say what to answer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/config/pyroscope_config.h"
#include "profkit/forward/upload.h"
#include "profkit/net/multipart.h"
#include "profkit/pyroscope/query.h"

namespace profkit::pyroscope {

// Queues one upload durably (ok only once it is on disk) and hands copies to the other sinks.
using Deliver = std::function<Status(const forward::ProfileUpload&)>;

// A push request carries one profile per sample; more than this is not one client's flush.
inline constexpr size_t kMaxPushProfiles = 256;

struct ListenerContext {
  config::PyroscopeInputConfig input;
  std::string agent_host;  // the host tag
  // Bodies, inflated bodies and inflated profiles are bounded by this ([inputs.profile]
  // body_size_limit_mb).
  size_t body_limit = 32 << 20;
};

struct Response {
  int status = 200;
  std::string body;  // empty on success, as Pyroscope answers
  std::string content_type = "text/plain";
};

struct IngestRequest {
  QueryParams params;
  std::string content_type;
  std::string_view body;  // the body when it is not multipart
  bool multipart = false;
  std::vector<net::Part> parts;  // when multipart
};

// POST /ingest: 200 (empty) once every upload is queued; 400 naming the problem; 413 when an
// inflated body or profile exceeds the limit; 415 for formats profkit does not read (trie, tree,
// jfr, speedscope); 503 when the queue refused the upload.
Response HandleIngest(const IngestRequest& request, const ListenerContext& context,
                      const Deliver& deliver, int64_t now_unix_nanos);

// POST /push.v1.PusherService/Push (Connect unary, application/proto body, already inflated):
// 200 with an empty PushResponse once every profile is queued; errors are Connect JSON
// ({"code":"invalid_argument","message":..}) with 400, 413, 415 or 503.
Response HandlePush(std::string_view content_type, std::string_view body,
                    const ListenerContext& context, const Deliver& deliver, int64_t now_unix_nanos);

}  // namespace profkit::pyroscope
