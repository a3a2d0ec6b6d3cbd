// The tracer push road from the body on: multipart/form-data decoding, the upload rewrite
// (event.json, legacy tags[] fields, language, merged tags) and the rewritten multipart, as the
// push endpoint runs them (ingest::HandleProfileUpload). The input is the Content-Type line,
// a newline, then the body; the seeds are a real dd-trace-js upload.
#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "profkit/ingest/upload_handler.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  profkit::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = profkit::fuzz::AsText(data, size);
  const size_t newline = input.find('\n');
  if (newline == std::string_view::npos) return 0;
  const std::string_view content_type = input.substr(0, newline);
  const std::string_view body = input.substr(newline + 1);

  profkit::ingest::RewriteOptions options;
  options.host = "fuzz-host";
  options.tags = {{"cluster", "fuzz"}};
  options.sender_tags = {{"pod_name", "sender"}};
  size_t delivered_bytes = 0;
  const auto deliver = [&](const profkit::ingest::RewrittenUpload& upload) {
    // Touch what the door would read, so ASan checks every view into the request.
    for (const auto* part : upload.attachments) delivered_bytes += part->data.size();
    delivered_bytes += upload.service.size() + upload.language.size();
    for (const auto& [key, value] : upload.tags) delivered_bytes += key.size() + value.size();
    return profkit::Status::Ok();
  };
  // Plain and gzip bodies; the encoding is the decoder's to reject.
  for (const std::string_view encoding : {"", "gzip"}) {
    (void)profkit::ingest::HandleProfileUpload(content_type, encoding, body, 1 << 20, options,
                                               deliver);
  }
  return 0;
}
