// What profkit's HTTP listeners (the push endpoint, each Pyroscope listener) share: an httplib
// server on its own thread set up the way they all need it (no SO_REUSEPORT, TCP_NODELAY, a
// bounded thread pool, body limit and timeouts), and the bounded reading of a request body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/net/multipart.h"

namespace httplib {
class Server;
class ContentReader;
struct Request;
struct Response;
}  // namespace httplib

namespace profkit::net {

struct HttpListenerOptions {
  std::string host;
  uint16_t port = 0;  // 0: an ephemeral port (tests)
  // httplib serves each keep-alive connection on one pool thread until it closes: this many
  // connections are served at once, more wait in the accept queue.
  size_t threads = 8;
  size_t body_limit = 32 << 20;
  // Idle keep-alive connections are closed after this; clients reconnect at their next upload.
  time_t keep_alive_timeout_seconds = 5;
  size_t keep_alive_max_count = 100;  // requests per connection before it is closed
  // A client that stops sending mid-body is cut off after this.
  time_t read_timeout_seconds = 30;
  std::string name = "http";  // for error messages: "<name>: cannot listen on ..."
};

class HttpListener {
 public:
  HttpListener();
  ~HttpListener();  // stops listening and waits for requests in progress
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Routes are added here before Start.
  httplib::Server& server() { return *http_; }
  // Binds (an error names the address when it is taken) and starts serving.
  Status Start(const HttpListenerOptions& options);
  uint16_t port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  uint16_t port_ = 0;
};

// A request body as httplib streams it (Content-Encoding already undone), at most body_limit
// bytes; multipart bodies arrive as parts (at most kMaxMultipartParts).
struct RequestBody {
  enum class Outcome { kRead, kTooLarge, kTooManyParts, kUnreadable };
  Outcome outcome = Outcome::kUnreadable;
  bool multipart = false;
  std::string bytes;  // the body, when not multipart
  struct OwnedPart {
    std::string name, filename, content_type, content;
  };
  std::vector<OwnedPart> parts;

  // Views of `parts` for the multipart handlers; valid while this body lives.
  std::vector<Part> PartViews() const;
};
// `parse_multipart`: a multipart/form-data body is split into parts (httplib offers no plain
// reader for them); otherwise any body is read whole.
RequestBody ReadRequestBody(const httplib::Request& request, const httplib::Response& response,
                            const httplib::ContentReader& reader, size_t body_limit,
                            bool parse_multipart);

}  // namespace profkit::net
