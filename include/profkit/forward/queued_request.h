// What a DiskQueue record holds: one request for Dataway, without the Dataway URL (its host and
// token come from the config at send time, so a changed token applies to queued records too).
#pragma once

#include <string>
#include <string_view>

#include "profkit/common/status.h"

namespace profkit::forward {

struct QueuedRequest {
  std::string path;          // e.g. kDatawayUploadPath
  std::string content_type;  // of body
  std::string service;       // for log lines only
  std::string body;
};

// u8 version 1, then path, content_type, service and body, each as u32 length (little endian)
// and bytes.
std::string EncodeQueuedRequest(const QueuedRequest& request);
// Errors name what is malformed; records from another version are errors too.
Result<QueuedRequest> DecodeQueuedRequest(std::string_view record);

}  // namespace profkit::forward
