#include "profkit/agent/door.h"
#include "profkit/common/quoted.h"

#include "profkit/common/clock.h"
#include "profkit/common/log.h"
#include "profkit/forward/dataway_url.h"

namespace profkit::agent {
namespace {

// A Pyroscope client waits for the returned status, which its listener logs; nobody answers for
// eBPF and pulled profiles.
bool SomeoneAnswers(Origin origin) { return origin == Origin::kPyroscope; }

void LogDropped(std::string_view copy, const forward::ProfileUpload& profile,
                const Status& status) {
  spdlog::error("{}: dropping the profile of service {} ending {}: {}", copy,
                Quoted(profile.service), FormatRfc3339Nano(profile.end_unix_nanos),
                status.message());
}

// The files metrics read, copied: the parts ingest parsed live only as long as the request.
metrics::PushedProfile MeasuredCopy(const ingest::RewrittenUpload& upload) {
  metrics::PushedProfile profile{.service = upload.service,
                                 .language = upload.language,
                                 .tags = upload.tags,
                                 .start = upload.start,
                                 .end = upload.end};
  // Languages without metrics are only counted; their (possibly large) files are not needed.
  if (!metrics::HasMetrics(upload.language)) return profile;
  for (const net::Part* part : upload.attachments) {
    profile.files.push_back({part->name, part->filename, std::string(part->data)});
  }
  return profile;
}

}  // namespace

Status Door::Deliver(Origin origin, const forward::ProfileUpload& profile) {
  Status durable = Status::Ok();
  if (outlets_.queue_upload) {
    durable = outlets_.queue_upload(profile);
    if (durable.ok() && outlets_.metrics != nullptr) outlets_.metrics->Publish(profile);
    if (!durable.ok() && !SomeoneAnswers(origin)) LogDropped("dataway", profile, durable);
  }
  if (outlets_.write_local) {
    const Status written = outlets_.write_local(profile);
    if (!outlets_.queue_upload) {
      durable = written;  // the only copy
      if (!written.ok() && !SomeoneAnswers(origin)) LogDropped("local sink", profile, written);
    } else if (!written.ok()) {
      LogDropped("local sink", profile, written);
    }
  }
  return durable;
}

Status Door::Deliver(const ingest::RewrittenUpload& upload) {
  // The agent serves the push endpoints only with a Dataway (Agent::StartPushEndpoint).
  if (!outlets_.queue_request) {
    return Status::InvalidInput("pushed uploads are forwarded to Dataway only: set dataway.url");
  }
  const Status queued = outlets_.queue_request(
      forward::QueuedRequest{std::string(forward::kDatawayUploadPath),
                             upload.multipart.content_type, upload.service, upload.multipart.body});
  // Only for accepted uploads; a metrics failure never fails the upload.
  if (queued.ok() && outlets_.metrics != nullptr) {
    outlets_.metrics->PublishLater(MeasuredCopy(upload));
  }
  return queued;
}

}  // namespace profkit::agent
