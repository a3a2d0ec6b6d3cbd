#include "profkit/ingest/server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "profkit/common/log.h"
#include "profkit/version.h"

namespace profkit::ingest {
namespace {

// Idle keep-alive connections are closed after this; tracers upload once a minute and reconnect.
constexpr time_t kKeepAliveTimeoutSeconds = 5;
// Requests per connection before it is closed; high so load generators and busy tracers reuse it.
constexpr size_t kKeepAliveMaxCount = 100000;
// httplib serves each keep-alive connection on one pool thread until it closes: this is how many
// tracer connections are served at once (more wait in the accept queue).
constexpr size_t kServerThreads = 64;
// A client that stops sending mid-body is cut off after this.
constexpr time_t kReadTimeoutSeconds = 30;

std::string EscapeRegex(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

Server::Server(ServerOptions options, UploadQueue queue)
    : options_(std::move(options)),
      queue_(std::move(queue)),
      http_(std::make_unique<httplib::Server>()) {}

Server::~Server() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options, UploadQueue queue) {
  std::unique_ptr<Server> server(new Server(std::move(options), std::move(queue)));
  server->Route();
  httplib::Server& http = *server->http_;
  // httplib's default adds SO_REUSEPORT, which would let a second agent share the port silently.
  // TCP_NODELAY: httplib writes a response's headers and body separately; with Nagle and the
  // client's delayed ACK every keep-alive request would wait ~40 ms.
  http.set_socket_options([](int fd) {
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  });
  http.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  http.set_payload_max_length(server->options_.body_limit);
  http.set_keep_alive_timeout(kKeepAliveTimeoutSeconds);
  http.set_keep_alive_max_count(kKeepAliveMaxCount);
  http.set_read_timeout(kReadTimeoutSeconds, 0);
  const std::string& host = server->options_.host;
  int port = server->options_.port;
  if (port == 0) {
    port = http.bind_to_any_port(host);
  } else if (!http.bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return Status::Errorf("http: cannot listen on {}:{} (address in use or not local?)", host,
                          server->options_.port);
  }
  server->port_ = static_cast<uint16_t>(port);
  server->thread_ = std::thread([&http] { http.listen_after_bind(); });
  // stop() is a no-op until the loop runs; don't let the destructor race it.
  while (!http.is_running()) std::this_thread::yield();
  return server;
}

IngestResponse Server::HandleUploadRequest(const httplib::Request& request,
                                           const httplib::Response& response,
                                           const httplib::ContentReader& reader) {
  // httplib has already undone any Content-Encoding (gzip, br) while streaming the body; the
  // receivers below bound what it inflates to body_limit.
  size_t total = 0;
  bool too_large = false;
  const auto bounded = [&](size_t size) {
    total += size;
    too_large = total > options_.body_limit;
    return !too_large;
  };
  const IngestResponse kTooLarge{413, fmt::format("body larger than body_size_limit_mb ({} bytes)\n",
                                                  options_.body_limit)};
  if (!request.is_multipart_form_data()) {
    std::string body;
    const bool read = reader([&](const char* data, size_t size) {
      if (!bounded(size)) return false;
      body.append(data, size);
      return true;
    });
    if (too_large || response.status == 413) return kTooLarge;
    if (!read) return {400, "could not read the request body\n"};
    return HandleProfileUpload(request.get_header_value("Content-Type"), "", body,
                               options_.body_limit, options_.rewrite, queue_);
  }
  // httplib parses multipart bodies itself (a plain receiver is not offered for them); parts
  // stream into `files`.
  std::vector<httplib::MultipartFormData> files;
  bool too_many = false;
  const bool read = reader(
      [&](const httplib::MultipartFormData& file) {
        too_many = files.size() == kMaxMultipartParts;
        if (!too_many) files.push_back(file);
        return !too_many;
      },
      [&](const char* data, size_t size) {
        if (!bounded(size)) return false;
        files.back().content.append(data, size);
        return true;
      });
  if (too_large || response.status == 413) return kTooLarge;
  if (too_many) return {400, fmt::format("more than {} parts\n", kMaxMultipartParts)};
  if (!read) return {400, "multipart body: malformed or truncated\n"};
  std::vector<Part> parts;
  parts.reserve(files.size());
  for (const httplib::MultipartFormData& file : files) {
    parts.push_back(
        Part{file.name, file.filename, !file.filename.empty(), file.content_type, file.content});
  }
  return HandleProfileParts(parts, options_.rewrite, queue_);
}

ServerCounters Server::counters() const {
  return ServerCounters{accepted_.load(), rejected_.load(), queue_errors_.load(),
                        tracer_requests_.load()};
}

void Server::Route() {
  httplib::Server& http = *http_;
  for (const std::string& endpoint : options_.endpoints) {
    http.Post(EscapeRegex(endpoint), [this](const httplib::Request& request,
                                            httplib::Response& response,
                                            const httplib::ContentReader& reader) {
      const IngestResponse answer = HandleUploadRequest(request, response, reader);
      (answer.status == 200 ? accepted_ : answer.status < 500 ? rejected_ : queue_errors_)++;
      response.status = answer.status;
      response.set_content(answer.body, answer.content_type);
    });
  }

  const auto count = [this] { ++tracer_requests_; };
  http.Get("/info", [this, count](const httplib::Request&, httplib::Response& response) {
    count();
    nlohmann::json info;
    info["version"] = std::string("profkit-") + PROFKIT_VERSION;
    info["endpoints"] = nlohmann::json::array();
    for (const std::string& endpoint : options_.endpoints) info["endpoints"].push_back(endpoint);
    for (const char* path : {"/v0.4/traces", "/v0.5/traces", "/v0.7/config", "/telemetry/proxy/"}) {
      info["endpoints"].push_back(path);
    }
    info["feature_flags"] = nlohmann::json::array();
    info["client_drop_p0s"] = false;
    info["span_meta_structs"] = false;
    response.set_content(info.dump(), "application/json");
  });
  const auto traces = [count](const httplib::Request&, httplib::Response& response) {
    count();
    response.set_content(R"({"rate_by_service":{}})", "application/json");
  };
  for (const char* path : {"/v0.4/traces", "/v0.5/traces"}) {
    http.Put(path, traces);
    http.Post(path, traces);
  }
  http.Post("/v0.7/config", [count](const httplib::Request&, httplib::Response& response) {
    count();
    response.set_content("{}", "application/json");
  });
  http.Post("/telemetry/proxy/.*", [count](const httplib::Request&, httplib::Response& response) {
    count();
    response.status = 200;
  });
}

}  // namespace profkit::ingest
