// The event part of a tracer upload (event.json): the input is its JSON, put in a multipart
// request next to a pprof attachment and rewritten as the push endpoint does
// (ingest::HandleProfileParts → RewriteUpload).
#include <cstdint>
#include <vector>

#include "fuzz_support.h"
#include "profkit/ingest/upload_handler.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  profkit::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<profkit::net::Part> parts(2);
  parts[0].name = "event";
  parts[0].filename = "event.json";
  parts[0].has_filename = true;
  parts[0].content_type = "application/json";
  parts[0].data = profkit::fuzz::AsText(data, size);
  parts[1].name = "auto.pprof";
  parts[1].filename = "auto.pprof";
  parts[1].has_filename = true;
  parts[1].content_type = "application/octet-stream";
  parts[1].data = "not really a profile";

  profkit::ingest::RewriteOptions options;
  options.host = "fuzz-host";
  options.tags = {{"cluster", "fuzz"}, {"service", "from-config"}};
  options.sender_tags = {{"pod_name", "sender"}};
  size_t seen = 0;
  (void)profkit::ingest::HandleProfileParts(
      parts, options, [&](const profkit::ingest::RewrittenUpload& upload) {
        for (const auto& [key, value] : upload.tags) seen += key.size() + value.size();
        seen += upload.start.size() + upload.end.size() + upload.multipart.body.size();
        return profkit::Status::Ok();
      });
  return 0;
}
