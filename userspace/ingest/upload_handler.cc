#include "profkit/ingest/upload_handler.h"
#include "profkit/common/quoted.h"

#include <fmt/format.h>

#include <random>

#include "profkit/common/compression.h"
#include "profkit/common/log.h"

namespace profkit::ingest {
namespace {

// Bad uploads are the client's problem, but a misconfigured tracer sends one a minute forever.
LogLimiter bad_upload_log(60'000'000'000);

IngestResponse Error(int status, std::string message) {
  return IngestResponse{status, std::move(message) + "\n", "text/plain"};
}

IngestResponse Rejected(const Status& status) {
  if (const int64_t suppressed = bad_upload_log.Allow(); suppressed >= 0) {
    spdlog::warn("ingest: rejected an upload ({} more since the last line): {}", suppressed,
                 status.message());
  }
  return Error(HttpStatusForRejected(status), status.message());
}

std::string ProfileId() {
  thread_local std::mt19937_64 random(std::random_device{}());
  return fmt::format("{:016x}{:016x}", random(), random());
}

}  // namespace

int HttpStatusForRejected(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidInput:
      return 400;
    case StatusCode::kTooLarge:
      return 413;
    case StatusCode::kUnsupported:
      return 415;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

int HttpStatusForQueueError(const Status& status) {
  // kTooLarge: the queue's capacity, ENOSPC, EDQUOT or EFBIG (StatusCodeForErrno).
  const bool full =
      status.code() == StatusCode::kTooLarge || status.code() == StatusCode::kUnavailable;
  return full ? 503 : 500;
}

IngestResponse HandleProfileUpload(std::string_view content_type, std::string_view content_encoding,
                                   std::string_view body, size_t body_limit,
                                   const RewriteOptions& options, const Deliver& deliver) {
  // docs/datakit-protocol.md §5 row 8: a whole-body gzip is decoded rather than forwarded broken.
  std::string inflated;
  if (!content_encoding.empty() && content_encoding != "identity") {
    if (content_encoding != "gzip") {
      return Error(400, fmt::format("unsupported Content-Encoding {}", Quoted(content_encoding)));
    }
    Result<std::string> decoded = GzipDecompress(body, body_limit);
    if (!decoded.ok()) {
      return Error(HttpStatusForRejected(decoded.status()),
                   fmt::format("Content-Encoding gzip: {}", decoded.status().message()));
    }
    inflated = std::move(decoded).value();
    body = inflated;
  }
  const auto bad = [](const Status& status) { return Rejected(status); };
  Result<std::string> boundary = net::MultipartBoundary(content_type);
  if (!boundary.ok()) return bad(boundary.status());
  Result<std::vector<net::Part>> parts = net::ParseMultipart(body, *boundary);
  if (!parts.ok()) return bad(parts.status().WithContext("multipart body"));
  return HandleProfileParts(*parts, options, deliver);
}

IngestResponse HandleProfileParts(const std::vector<net::Part>& parts,
                                  const RewriteOptions& options, const Deliver& deliver) {
  Result<RewrittenUpload> upload = RewriteUpload(parts, options);
  if (!upload.ok()) return Rejected(upload.status());

  const Status queued = deliver(*upload);
  if (!queued.ok()) {
    spdlog::error("ingest: could not queue the upload of service {}: {}", Quoted(upload->service),
                  queued.message());
    return Error(HttpStatusForQueueError(queued), "profkit: " + queued.message());
  }
  return IngestResponse{200, fmt::format(R"({{"content":{{"profileID":"{}"}}}})", ProfileId()),
                        "application/json"};
}

}  // namespace profkit::ingest
