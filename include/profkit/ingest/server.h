// The agent's HTTP server on [http] listen: DataKit's profile push endpoints and cheap answers to
// the other paths Datadog tracers call on the same port (docs/client-protocols.md §2.2).
//   POST <each endpoint>            profile uploads (HandleProfileUpload)
//   GET  /info                      a Datadog agent description listing the endpoints below
//   PUT/POST /v0.4/traces, /v0.5/traces   200 {"rate_by_service":{}}; traces are dropped
//   POST /v0.7/config               200 {} (no remote configuration)
//   POST /telemetry/proxy/...       200; telemetry is dropped
//   GET  <each of plain_routes>     the agent's probes and /metrics
// Request bodies over body_limit bytes get 413 on every path.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/net/http_listener.h"
#include "profkit/ingest/upload_handler.h"

namespace httplib {
class ContentReader;
struct Request;
struct Response;
}  // namespace httplib

namespace profkit::ingest {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 9529;  // 0: an ephemeral port (tests)
  std::vector<std::string> endpoints = {"/profiling/v1/input"};
  size_t body_limit = 32 << 20;
  RewriteOptions rewrite;
  // The tags of the pod at a sender's address (rewrite.sender_tags); unset or none = no pod.
  std::function<Tags(const std::string& remote_address)> sender_tags;
  // GET paths answered by the agent itself (/healthz, /ready, /metrics); called on pool threads.
  struct PlainRoute {
    std::string path;
    std::function<IngestResponse()> answer;
  };
  std::vector<PlainRoute> plain_routes;
};

struct ServerCounters {
  uint64_t accepted = 0;
  uint64_t rejected = 0;      // 4xx answers to uploads
  uint64_t queue_errors = 0;  // 5xx answers to uploads
  uint64_t tracer_requests = 0;
};

class Server {
 public:
  // Binds (an error names the address when it is taken) and starts serving.
  static Result<std::unique_ptr<Server>> Start(ServerOptions options, Deliver deliver);

  uint16_t port() const { return listener_.port(); }
  ServerCounters counters() const;

 private:
  Server(ServerOptions options, Deliver deliver);
  void Route();
  IngestResponse HandleUploadRequest(const httplib::Request& request,
                                     const httplib::Response& response,
                                     const httplib::ContentReader& reader);

  const ServerOptions options_;
  const Deliver deliver_;
  std::atomic<uint64_t> accepted_{0}, rejected_{0}, queue_errors_{0}, tracer_requests_{0};
  // Last: destroyed first, so no handler runs while the members it uses are destroyed.
  net::HttpListener listener_;
};

}  // namespace profkit::ingest
