// One [[inputs.profile.pyroscope]] listener:
//   POST /ingest                           Pyroscope's ingest API (HandleIngest)
//   POST /push.v1.PusherService/Push       the Connect push API (HandlePush)
// Request bodies over body_limit bytes get 413.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "profkit/common/status.h"
#include "profkit/net/http_listener.h"
#include "profkit/pyroscope/handler.h"

namespace httplib {
class ContentReader;
struct Request;
struct Response;
}  // namespace httplib

namespace profkit::pyroscope {

inline constexpr char kIngestPath[] = "/ingest";
inline constexpr char kPushPath[] = "/push.v1.PusherService/Push";

struct ServerCounters {
  uint64_t accepted = 0;      // requests answered 200
  uint64_t rejected = 0;      // 4xx answers
  uint64_t queue_errors = 0;  // 5xx answers
};

class Server {
 public:
  // Binds context.input.host:port (port 0: an ephemeral one, for tests) and starts serving; an
  // error names the address.
  static Result<std::unique_ptr<Server>> Start(ListenerContext context, Deliver deliver);

  uint16_t port() const { return listener_.port(); }
  ServerCounters counters() const;

 private:
  Server(ListenerContext context, Deliver deliver);
  void Route();
  // Reads the body (inflated by httplib, bounded by body_limit) and answers the request.
  Response Handle(const httplib::Request& request, const httplib::Response& response,
                  const httplib::ContentReader& reader, bool push);

  const ListenerContext context_;
  const Deliver deliver_;
  std::atomic<uint64_t> accepted_{0}, rejected_{0}, queue_errors_{0};
  // Last: destroyed first, so no handler runs while the members it uses are destroyed.
  net::HttpListener listener_;
};

}  // namespace profkit::pyroscope
