#include "profkit/pyroscope/server.h"

#include <httplib.h>

#include "profkit/common/clock.h"
#include "profkit/common/log.h"

namespace profkit::pyroscope {
namespace {

// Pyroscope clients flush every 10-60 s from one connection each; a few threads serve a host.
constexpr size_t kServerThreads = 8;

}  // namespace

Server::Server(ListenerContext context, Deliver deliver)
    : context_(std::move(context)), deliver_(std::move(deliver)) {}

Result<std::unique_ptr<Server>> Server::Start(ListenerContext context, Deliver deliver) {
  std::unique_ptr<Server> server(new Server(std::move(context), std::move(deliver)));
  server->Route();
  PROFKIT_RETURN_IF_ERROR(
      server->listener_.Start(net::HttpListenerOptions{.host = server->context_.input.host,
                                                       .port = server->context_.input.port,
                                                       .threads = kServerThreads,
                                                       .body_limit = server->context_.body_limit,
                                                       .name = "pyroscope"}));
  return server;
}

Response Server::Handle(const httplib::Request& request, const httplib::Response& response,
                        const httplib::ContentReader& reader, bool push) {
  const net::RequestBody body =
      net::ReadRequestBody(request, response, reader, context_.body_limit, !push);
  switch (body.outcome) {
    case net::RequestBody::Outcome::kTooLarge: {
      const std::string message =
          fmt::format("body larger than body_size_limit_mb ({} bytes)", context_.body_limit);
      if (push) {
        return Response{413,
                        fmt::format(R"({{"code":"resource_exhausted","message":"{}"}})", message),
                        "application/json"};
      }
      return Response{413, message + "\n"};
    }
    case net::RequestBody::Outcome::kTooManyParts:
      return Response{400, fmt::format("more than {} parts\n", net::kMaxMultipartParts)};
    case net::RequestBody::Outcome::kUnreadable:
      return Response{400, "could not read the request body (malformed or truncated)\n"};
    case net::RequestBody::Outcome::kRead:
      break;
  }
  const std::string content_type = request.get_header_value("Content-Type");
  const int64_t now = WallTimeNanos();
  if (push) return HandlePush(content_type, body.bytes, context_, deliver_, now);
  IngestRequest parsed{.params = request.params, .content_type = content_type};
  parsed.body = body.bytes;
  parsed.multipart = body.multipart;
  parsed.parts = body.PartViews();
  return HandleIngest(parsed, context_, deliver_, now);
}

ServerCounters Server::counters() const {
  return ServerCounters{accepted_.load(), rejected_.load(), queue_errors_.load()};
}

void Server::Route() {
  for (const bool push : {false, true}) {
    // httplib routes are regular expressions.
    listener_.server().Post(
        push ? R"(/push\.v1\.PusherService/Push)" : kIngestPath,
        [this, push](const httplib::Request& request, httplib::Response& response,
                     const httplib::ContentReader& reader) {
          const Response answer = Handle(request, response, reader, push);
          (answer.status == 200 ? accepted_ : answer.status < 500 ? rejected_ : queue_errors_)++;
          response.status = answer.status;
          response.set_content(answer.body, answer.content_type);
        });
  }
}

}  // namespace profkit::pyroscope
