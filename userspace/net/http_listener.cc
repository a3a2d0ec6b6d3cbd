#include "profkit/net/http_listener.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace profkit::net {

HttpListener::HttpListener() : http_(std::make_unique<httplib::Server>()) {}

HttpListener::~HttpListener() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

Status HttpListener::Start(const HttpListenerOptions& options) {
  httplib::Server& http = *http_;
  // httplib's default adds SO_REUSEPORT, which would let a second agent share the port silently.
  // TCP_NODELAY: httplib writes a response's headers and body separately; with Nagle and the
  // client's delayed ACK every keep-alive request would wait ~40 ms.
  http.set_socket_options([](int fd) {
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  });
  const size_t threads = options.threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(options.body_limit);
  http.set_keep_alive_timeout(options.keep_alive_timeout_seconds);
  http.set_keep_alive_max_count(options.keep_alive_max_count);
  http.set_read_timeout(options.read_timeout_seconds, 0);
  int port = options.port;
  if (port == 0) {
    port = http.bind_to_any_port(options.host);
  } else if (!http.bind_to_port(options.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return Status::Unavailablef("{}: cannot listen on {}:{} (address in use or not local?)",
                                options.name, options.host, options.port);
  }
  port_ = static_cast<uint16_t>(port);
  thread_ = std::thread([&http] { http.listen_after_bind(); });
  // stop() is a no-op until the loop runs; don't let the destructor race it.
  while (!http.is_running()) std::this_thread::yield();
  return Status::Ok();
}

std::vector<Part> RequestBody::PartViews() const {
  std::vector<Part> views;
  views.reserve(parts.size());
  for (const OwnedPart& part : parts) {
    views.push_back(
        Part{part.name, part.filename, !part.filename.empty(), part.content_type, part.content});
  }
  return views;
}

RequestBody ReadRequestBody(const httplib::Request& request, const httplib::Response& response,
                            const httplib::ContentReader& reader, size_t body_limit,
                            bool parse_multipart) {
  RequestBody body;
  size_t total = 0;
  bool too_large = false;
  const auto bounded = [&](size_t size) {
    total += size;
    too_large = total > body_limit;
    return !too_large;
  };
  bool too_many = false;
  bool read = false;
  body.multipart = parse_multipart && request.is_multipart_form_data();
  if (body.multipart) {
    read = reader(
        [&](const httplib::MultipartFormData& file) {
          too_many = body.parts.size() == kMaxMultipartParts;
          if (!too_many) body.parts.push_back({file.name, file.filename, file.content_type, ""});
          return !too_many;
        },
        [&](const char* data, size_t size) {
          if (!bounded(size)) return false;
          body.parts.back().content.append(data, size);
          return true;
        });
  } else {
    read = reader([&](const char* data, size_t size) {
      if (!bounded(size)) return false;
      body.bytes.append(data, size);
      return true;
    });
  }
  // httplib answers 413 itself when Content-Length exceeds the payload limit.
  if (too_large || response.status == 413) {
    body.outcome = RequestBody::Outcome::kTooLarge;
  } else if (too_many) {
    body.outcome = RequestBody::Outcome::kTooManyParts;
  } else {
    body.outcome = read ? RequestBody::Outcome::kRead : RequestBody::Outcome::kUnreadable;
  }
  return body;
}

}  // namespace profkit::net
