#include "profkit/ingest/server.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "profkit/common/log.h"
#include "profkit/version.h"

namespace profkit::ingest {
namespace {

// httplib serves each keep-alive connection on one pool thread until it closes: this is how many
// tracer connections are served at once (more wait in the accept queue).
constexpr size_t kServerThreads = 64;
// Requests per connection before it is closed; high so load generators and busy tracers reuse it.
constexpr size_t kKeepAliveMaxCount = 100000;

std::string EscapeRegex(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

Server::Server(ServerOptions options, Deliver deliver)
    : options_(std::move(options)), deliver_(std::move(deliver)) {}

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options, Deliver deliver) {
  std::unique_ptr<Server> server(new Server(std::move(options), std::move(deliver)));
  server->Route();
  PROFKIT_RETURN_IF_ERROR(server->listener_.Start(
      net::HttpListenerOptions{.host = server->options_.host,
                               .port = server->options_.port,
                               .threads = kServerThreads,
                               .body_limit = server->options_.body_limit,
                               .keep_alive_max_count = kKeepAliveMaxCount}));
  return server;
}

IngestResponse Server::HandleUploadRequest(const httplib::Request& request,
                                           const httplib::Response& response,
                                           const httplib::ContentReader& reader) {
  const net::RequestBody body =
      net::ReadRequestBody(request, response, reader, options_.body_limit, true);
  switch (body.outcome) {
    case net::RequestBody::Outcome::kTooLarge:
      return {413,
              fmt::format("body larger than body_size_limit_mb ({} bytes)\n", options_.body_limit)};
    case net::RequestBody::Outcome::kTooManyParts:
      return {400, fmt::format("more than {} parts\n", net::kMaxMultipartParts)};
    case net::RequestBody::Outcome::kUnreadable:
      return {400, body.multipart ? "multipart body: malformed or truncated\n"
                                  : "could not read the request body\n"};
    case net::RequestBody::Outcome::kRead:
      break;
  }
  const RewriteOptions* rewrite = &options_.rewrite;
  RewriteOptions with_sender;
  if (options_.sender_tags) {
    if (Tags sender = options_.sender_tags(request.remote_addr); !sender.empty()) {
      with_sender = options_.rewrite;
      with_sender.sender_tags = std::move(sender);
      rewrite = &with_sender;
    }
  }
  if (!body.multipart) {
    return HandleProfileUpload(request.get_header_value("Content-Type"), "", body.bytes,
                               options_.body_limit, *rewrite, deliver_);
  }
  return HandleProfileParts(body.PartViews(), *rewrite, deliver_);
}

ServerCounters Server::counters() const {
  return ServerCounters{accepted_.load(), rejected_.load(), queue_errors_.load(),
                        tracer_requests_.load()};
}

void Server::Route() {
  httplib::Server& http = listener_.server();
  for (const std::string& endpoint : options_.endpoints) {
    http.Post(
        EscapeRegex(endpoint), [this](const httplib::Request& request, httplib::Response& response,
                                      const httplib::ContentReader& reader) {
          const IngestResponse answer = HandleUploadRequest(request, response, reader);
          (answer.status == 200 ? accepted_ : answer.status < 500 ? rejected_ : queue_errors_)++;
          response.status = answer.status;
          response.set_content(answer.body, answer.content_type);
        });
  }

  for (const ServerOptions::PlainRoute& route : options_.plain_routes) {
    http.Get(EscapeRegex(route.path),
             [answer = route.answer](const httplib::Request&, httplib::Response& response) {
               const IngestResponse reply = answer();
               response.status = reply.status;
               response.set_content(reply.body, reply.content_type);
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
