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
  PROFKIT_RETURN_IF_ERROR(server->listener_.Start(ingest::HttpListenerOptions{
      .host = server->context_.input.host,
      .port = server->context_.input.port,
      .threads = kServerThreads,
      .body_limit = server->context_.body_limit,
      .name = "pyroscope"}));
  return server;
}

Response Server::Handle(const httplib::Request& request, const httplib::Response& response,
                        const httplib::ContentReader& reader, bool push) {
  // httplib has already undone any Content-Encoding (gzip) while streaming the body; the
  // receivers bound what it inflates to body_limit.
  size_t total = 0;
  bool too_large = false;
  const auto bounded = [&](size_t size) {
    total += size;
    too_large = total > context_.body_limit;
    return !too_large;
  };
  const std::string too_large_message =
      fmt::format("body larger than body_size_limit_mb ({} bytes)", context_.body_limit);
  const std::string content_type = request.get_header_value("Content-Type");
  const int64_t now = WallTimeNanos();
  IngestRequest parsed{.params = request.params, .content_type = content_type};
  std::string body;
  std::vector<httplib::MultipartFormData> files;
  bool too_many = false;
  bool read = false;
  if (!push && request.is_multipart_form_data()) {
    // httplib parses multipart bodies itself (a plain receiver is not offered for them).
    read = reader(
        [&](const httplib::MultipartFormData& file) {
          too_many = files.size() == ingest::kMaxMultipartParts;
          if (!too_many) files.push_back(file);
          return !too_many;
        },
        [&](const char* data, size_t size) {
          if (!bounded(size)) return false;
          files.back().content.append(data, size);
          return true;
        });
  } else {
    read = reader([&](const char* data, size_t size) {
      if (!bounded(size)) return false;
      body.append(data, size);
      return true;
    });
  }
  if (too_large || response.status == 413) {
    if (push) return Response{413, fmt::format(R"({{"code":"resource_exhausted","message":"{}"}})",
                                               too_large_message), "application/json"};
    return Response{413, too_large_message + "\n"};
  }
  if (too_many) return Response{400, fmt::format("more than {} parts\n", ingest::kMaxMultipartParts)};
  if (!read) return Response{400, "could not read the request body (malformed or truncated)\n"};
  if (push) return HandlePush(content_type, body, context_, deliver_, now);
  parsed.body = body;
  parsed.multipart = request.is_multipart_form_data();
  for (const httplib::MultipartFormData& file : files) {
    parsed.parts.push_back(ingest::Part{file.name, file.filename, !file.filename.empty(),
                                        file.content_type, file.content});
  }
  return HandleIngest(parsed, context_, deliver_, now);
}

ServerCounters Server::counters() const {
  return ServerCounters{accepted_.load(), rejected_.load(), queue_errors_.load()};
}

void Server::Route() {
  for (const bool push : {false, true}) {
    // httplib routes are regular expressions.
    listener_.server().Post(push ? R"(/push\.v1\.PusherService/Push)" : kIngestPath,
                [this, push](const httplib::Request& request, httplib::Response& response,
                             const httplib::ContentReader& reader) {
                  const Response answer = Handle(request, response, reader, push);
                  (answer.status == 200 ? accepted_ : answer.status < 500 ? rejected_
                                                                          : queue_errors_)++;
                  response.status = answer.status;
                  response.set_content(answer.body, answer.content_type);
                });
  }
}

}  // namespace profkit::pyroscope
