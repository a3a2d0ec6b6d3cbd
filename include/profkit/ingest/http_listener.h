// An httplib server serving on its own thread, set up the way every profkit listener needs it:
// no SO_REUSEPORT, TCP_NODELAY, a bounded thread pool, body limit and timeouts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <thread>

#include "profkit/common/status.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace profkit::ingest {

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

}  // namespace profkit::ingest
