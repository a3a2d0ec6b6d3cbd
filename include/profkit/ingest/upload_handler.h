// The request logic of the profile push endpoint, free of HTTP plumbing so that it is tested
// without sockets: decode, validate, rewrite, hand over durably, and say what to answer.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "profkit/common/status.h"
#include "profkit/ingest/upload_rewrite.h"

namespace profkit::ingest {

// Hands one rewritten upload to the agent's door (agent/door.h); ok only once its Dataway copy is
// on disk. The upload's part views are valid during the call only.
using Deliver = std::function<Status(const RewrittenUpload&)>;

struct IngestResponse {
  int status = 200;
  std::string body;  // one line for errors
  std::string content_type = "text/plain";
};

// The HTTP status answering a request refused for `status`, chosen from its code (never its
// text): 400 invalid input, 413 a bound exceeded (body, part, inflated size), 415 an unsupported
// format, 503 unavailable, 500 otherwise.
int HttpStatusForRejected(const Status& status);
// The HTTP status answering a request that could not be delivered: 503 when the queue is full,
// the disk has no room or the queue is unavailable (the client retries later), 500 otherwise.
int HttpStatusForQueueError(const Status& status);

// Validates and rewrites parsed parts, then delivers the upload: 200 with a small JSON body naming
// a profile id once queued; HttpStatusForRejected (400, 413...) when the parts are not a profile
// upload (with the reason); HttpStatusForQueueError (503, 500) when delivering fails.
IngestResponse HandleProfileParts(const std::vector<net::Part>& parts,
                                  const RewriteOptions& options, const Deliver& deliver);

// The same for a raw body: decodes Content-Encoding gzip, parses the multipart, then
// HandleProfileParts. 200 with a small JSON body naming a profile id once queued; 400 when the body
// is not a profile upload (with the reason); 413 when a Content-Encoding'd body inflates past
// `body_limit` or a bound of the multipart is exceeded; 503 when the queue is full or the disk has
// no room; 500 for other queue errors.
IngestResponse HandleProfileUpload(std::string_view content_type, std::string_view content_encoding,
                                   std::string_view body, size_t body_limit,
                                   const RewriteOptions& options, const Deliver& deliver);

}  // namespace profkit::ingest
