// The Pyroscope Connect push message (push.v1.PushRequest, protobuf) as the listener handles it
// (pyroscope::HandlePush): series labels, the application name, each sample's raw pprof.
#include <cstdint>

#include "fuzz_support.h"
#include "profkit/pyroscope/handler.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  profkit::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  profkit::pyroscope::ListenerContext context;
  context.input.service = "fuzz";
  context.input.tags = {{"cluster", "fuzz"}};
  context.agent_host = "fuzz-host";
  context.body_limit = 1 << 20;
  size_t seen = 0;
  const auto deliver = [&](const profkit::forward::ProfileUpload& upload) {
    for (const auto& attachment : upload.attachments) seen += attachment.data.size();
    seen += upload.service.size();
    return profkit::Status::Ok();
  };
  (void)profkit::pyroscope::HandlePush("application/proto", profkit::fuzz::AsText(data, size),
                                       context, deliver, 1'700'000'000'000'000'000);
  return 0;
}
