#include "profkit/pyroscope/handler.h"
#include "profkit/common/quoted.h"

#include <fmt/format.h>

#include <array>
#include <climits>
#include <nlohmann/json.hpp>

#include "profkit/common/compression.h"
#include "profkit/common/log.h"
#include "profkit/ingest/upload_handler.h"
#include "profkit/ingest/upload_rewrite.h"
#include "profkit/profile/pprof_builder.h"
#include "profkit/pyroscope/convert.h"
#include "pyroscope/push.pb.h"

namespace profkit::pyroscope {
namespace {

// A misconfigured client sends a bad profile every flush, forever.
LogLimiter bad_request_log(60'000'000'000);

// The formats of /ingest profkit does not read (docs/client-protocols.md §3.2); current clients
// send pprof or folded text.
constexpr std::array<std::string_view, 4> kUnsupportedFormats = {"trie", "tree", "jfr",
                                                                 "speedscope"};

Response Text(int status, std::string message) {
  if (status >= 400 && status < 500) {
    if (const int64_t suppressed = bad_request_log.Allow(); suppressed >= 0) {
      spdlog::warn("pyroscope: rejected a request ({} more since the last line): {}", suppressed,
                   message);
    }
  }
  return Response{status, std::move(message) + "\n", "text/plain"};
}

struct PreparedProfile {
  std::string gzip;  // what is forwarded
  perftools::profiles::Profile profile;
};

// Validates pprof bytes (raw or gzip) and returns them gzipped, as every profile is forwarded.
Result<PreparedProfile> PreparePprof(std::string_view bytes, size_t limit) {
  PreparedProfile prepared;
  PROFKIT_ASSIGN_OR_RETURN(prepared.profile, profile::ParsePprof(bytes, limit));
  if (DetectCompression(bytes) == Compression::kGzip) {
    prepared.gzip = std::string(bytes);
  } else {
    PROFKIT_ASSIGN_OR_RETURN(prepared.gzip, GzipCompress(bytes));
  }
  return prepared;
}

const std::string* FindLabel(const Labels& labels, std::string_view key) {
  for (const auto& [name, value] : labels) {
    if (name == key && !value.empty()) return &value;
  }
  return nullptr;
}

struct UploadParts {
  std::string app_name;
  const Labels* labels = nullptr;
  std::string language;
  Labels extra;  // profkit's own tags (app_name, spy_name, ...), before the client's labels
  int64_t start_unix_nanos = 0, end_unix_nanos = 0;
  std::string attachment_name;
  std::string data;
};

// service/env/version: the listener's config, else the client's labels (service falls back to
// the application name). Tags: the listener's tags, then `extra`, then every label not starting
// with "__"; forward::BuildTagsProfiler keeps the first of repeated keys.
forward::ProfileUpload BuildUpload(const ListenerContext& context, UploadParts parts) {
  const config::PyroscopeInputConfig& input = context.input;
  const Labels& labels = *parts.labels;
  const auto pick = [&](const std::string& configured, std::initializer_list<std::string_view> keys,
                        const std::string& fallback) {
    if (!configured.empty()) return configured;
    for (const std::string_view key : keys) {
      if (const std::string* value = FindLabel(labels, key)) return *value;
    }
    return fallback;
  };
  forward::ProfileUpload upload{
      .service = pick(input.service, {"service_name", "service"}, parts.app_name),
      .env = pick(input.env, {"env"}, ""),
      .version = pick(input.version, {"version"}, ""),
      .host = context.agent_host,
      .language = std::move(parts.language),
      .profiler = "pyroscope",
      .format = "pprof",
      .extra_tags = input.tags,
      .start_unix_nanos = parts.start_unix_nanos,
      .end_unix_nanos = parts.end_unix_nanos,
      .attachments = {forward::Attachment{.name = std::move(parts.attachment_name),
                                          .data = std::move(parts.data)}}};
  for (auto& tag : parts.extra) upload.extra_tags.push_back(std::move(tag));
  for (const auto& [key, value] : labels) {
    if (key.starts_with("__") || key == "service_name" || value.empty()) continue;
    upload.extra_tags.emplace_back(key, value);
  }
  return upload;
}

// The Connect error code that goes with HttpStatusForRejected's answer for a refused push.
std::string_view ConnectCode(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidInput:
      return "invalid_argument";
    case StatusCode::kTooLarge:
      return "resource_exhausted";
    case StatusCode::kUnsupported:
      return "unimplemented";
    case StatusCode::kUnavailable:
      return "unavailable";
    default:
      return "internal";
  }
}

Response ConnectError(int status, std::string_view code, std::string message) {
  if (status < 500) {
    if (const int64_t suppressed = bad_request_log.Allow(); suppressed >= 0) {
      spdlog::warn("pyroscope: rejected a push ({} more since the last line): {}", suppressed,
                   message);
    }
  }
  return Response{status, nlohmann::json{{"code", code}, {"message", message}}.dump(),
                  "application/json"};
}

Response Queue(const forward::ProfileUpload& upload, const Deliver& deliver, bool connect) {
  const Status queued = deliver(upload);
  if (queued.ok()) return Response{200, "", connect ? "application/proto" : "text/plain"};
  spdlog::error("pyroscope: could not queue the profile of service {}: {}", Quoted(upload.service),
                queued.message());
  std::string message = "profkit: " + queued.message();
  const int status = ingest::HttpStatusForQueueError(queued);
  return connect
             ? ConnectError(status, status == 503 ? "unavailable" : "internal", std::move(message))
             : Response{status, std::move(message) + "\n", "text/plain"};
}

// The multipart form of /ingest: a pprof in `profile`, optionally `sample_type_config`.
Result<std::pair<const net::Part*, std::string>> ProfileFromParts(
    const std::vector<net::Part>& parts) {
  const net::Part* profile_part = nullptr;
  std::string hint;
  for (const net::Part& part : parts) {
    if (part.name == "prev_profile") {
      // Pyroscope refuses it too: cumulative profiles of clients from before 2023.
      return Status::InvalidInput(
          "multipart: prev_profile (cumulative profiles of old clients) is not supported; upgrade "
          "the client");
    }
    if (part.name == "profile") profile_part = &part;
    if (part.name != "sample_type_config") continue;
    const nlohmann::json config = nlohmann::json::parse(part.data, nullptr, false);
    if (!config.is_object())
      return Status::InvalidInput("multipart: sample_type_config is not a JSON object");
    for (const auto& [type, settings] : config.items()) {
      hint += type + " ";
      if (settings.is_object() && settings.contains("display-name") &&
          settings["display-name"].is_string()) {
        hint += settings["display-name"].get<std::string>() + " ";
      }
    }
  }
  if (profile_part == nullptr) return Status::InvalidInput("multipart: no 'profile' part");
  return std::pair{profile_part, std::move(hint)};
}

}  // namespace

Response HandleIngest(const IngestRequest& request, const ListenerContext& context,
                      const Deliver& deliver, int64_t now_unix_nanos) {
  Result<IngestQuery> parsed = ParseIngestQuery(request.params, now_unix_nanos);
  if (!parsed.ok()) {
    return Text(ingest::HttpStatusForRejected(parsed.status()), parsed.status().message());
  }
  const IngestQuery& query = *parsed;
  for (const std::string_view format : kUnsupportedFormats) {
    if (query.format == format) {
      return Text(415, fmt::format("format={} is not supported by profkit; send pprof or folded "
                                   "(collapsed) stacks",
                                   format));
    }
  }
  if (request.content_type.find("octet-stream+trie") != std::string::npos ||
      request.content_type.find("octet-stream+tree") != std::string::npos) {
    return Text(415, fmt::format("Content-Type {} (trie/tree) is not supported by profkit; send "
                                 "pprof or folded (collapsed) stacks",
                                 request.content_type));
  }

  UploadParts parts{.app_name = query.app.name,
                    .labels = &query.app.labels,
                    .language = LanguageForSpy(query.spy_name),
                    .extra = {{"app_name", query.app.name}, {"spy_name", query.spy_name}},
                    .start_unix_nanos = query.from_unix_nanos,
                    .end_unix_nanos = query.until_unix_nanos};
  const bool pprof = query.format == "pprof" || (request.multipart && query.format != "lines");
  if (pprof) {
    std::string_view bytes = request.body;
    std::string hint = query.metric;
    if (request.multipart) {
      auto found = ProfileFromParts(request.parts);
      if (!found.ok()) {
        return Text(ingest::HttpStatusForRejected(found.status()), found.status().message());
      }
      bytes = found->first->data;
      hint += " " + found->second;
    }
    Result<PreparedProfile> prepared = PreparePprof(bytes, context.body_limit);
    if (!prepared.ok()) {
      return Text(ingest::HttpStatusForRejected(prepared.status()),
                  prepared.status().WithContext("profile").message());
    }
    parts.extra.emplace_back("input_format", "pprof");
    parts.attachment_name = AttachmentName(SampleTypes(prepared->profile), hint, query.spy_name);
    parts.data = std::move(prepared->gzip);
  } else {
    if (request.multipart) return Text(400, "format=lines: expected a text body, got multipart");
    // pyroscope-rs before lib-1.0 gzips folded bodies (Content-Encoding: gzip, which httplib
    // undoes) — and a client that gzips without saying so is recognised by the magic bytes.
    std::string inflated;
    std::string_view text = request.body;
    if (DetectCompression(text) == Compression::kGzip) {
      Result<std::string> decoded = GzipDecompress(text, context.body_limit);
      if (!decoded.ok()) {
        return Text(ingest::HttpStatusForRejected(decoded.status()),
                    decoded.status().WithContext("gzip body").message());
      }
      inflated = std::move(decoded).value();
      text = inflated;
    }
    const bool lines = query.format == "lines";
    Result<FoldedProfile> converted =
        FoldedToPprof(text, FoldedOptions{.lines = lines,
                                          .metric = query.metric,
                                          .units = query.units,
                                          .sample_rate = query.sample_rate,
                                          .start_unix_nanos = query.from_unix_nanos,
                                          .end_unix_nanos = query.until_unix_nanos});
    if (!converted.ok()) {
      return Text(ingest::HttpStatusForRejected(converted.status()),
                  converted.status().WithContext(lines ? "lines body" : "folded body").message());
    }
    parts.extra.emplace_back("input_format", lines ? "lines" : "folded");
    parts.extra.emplace_back("sample_rate", std::to_string(query.sample_rate));
    parts.extra.emplace_back("units", query.units);
    parts.extra.emplace_back("aggregation_type", query.aggregation_type);
    parts.attachment_name = AttachmentName(converted->sample_types, query.metric, query.spy_name);
    parts.data = std::move(converted->gzip);
  }
  return Queue(BuildUpload(context, std::move(parts)), deliver, false);
}

Response HandlePush(std::string_view content_type, std::string_view body,
                    const ListenerContext& context, const Deliver& deliver,
                    int64_t now_unix_nanos) {
  const std::string_view media = content_type.substr(0, content_type.find(';'));
  if (media != "application/proto" && media != "application/x-protobuf") {
    return ConnectError(415, "unimplemented",
                        fmt::format("Content-Type {}: profkit reads only the Connect protobuf "
                                    "codec (application/proto), not JSON or gRPC",
                                    Quoted(content_type)));
  }
  profkit::pyroscope::PushRequest request;
  if (body.size() > static_cast<size_t>(INT32_MAX) ||
      !request.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return ConnectError(400, "invalid_argument", "body is not a push.v1.PushRequest protobuf");
  }
  size_t total = 0;
  for (const auto& series : request.series()) total += series.samples_size();
  if (total > kMaxPushProfiles) {
    return ConnectError(
        400, "invalid_argument",
        fmt::format("{} profiles in one request; at most {}", total, kMaxPushProfiles));
  }
  // Everything is validated before anything is queued, so a bad request queues nothing.
  std::vector<forward::ProfileUpload> uploads;
  for (int s = 0; s < request.series_size(); ++s) {
    const auto& series = request.series(s);
    Labels labels;
    for (const auto& label : series.labels()) {
      if (labels.size() == kMaxLabels) {
        return ConnectError(400, "invalid_argument",
                            fmt::format("series {}: more than {} labels", s, kMaxLabels));
      }
      if (const Status valid = ValidateLabel(label.name(), label.value()); !valid.ok()) {
        return ConnectError(ingest::HttpStatusForRejected(valid), ConnectCode(valid),
                            valid.WithContext(fmt::format("series {}", s)).message());
      }
      labels.emplace_back(label.name(), label.value());
    }
    const std::string* service = FindLabel(labels, "service_name");
    const std::string* spy = FindLabel(labels, "pyroscope_spy");
    const std::string* runtime = FindLabel(labels, "process.runtime.name");
    const std::string* metric = FindLabel(labels, "__name__");
    std::string language = spy != nullptr       ? LanguageForSpy(*spy)
                           : runtime != nullptr ? ingest::ResolveLanguage({*runtime})
                                                : "unknown";
    for (int i = 0; i < series.samples_size(); ++i) {
      Result<PreparedProfile> prepared =
          PreparePprof(series.samples(i).raw_profile(), context.body_limit);
      if (!prepared.ok()) {
        return ConnectError(
            ingest::HttpStatusForRejected(prepared.status()), ConnectCode(prepared.status()),
            fmt::format("series {} sample {}: {}", s, i, prepared.status().message()));
      }
      const perftools::profiles::Profile& profile = prepared->profile;
      int64_t end = now_unix_nanos, start = now_unix_nanos;
      if (profile.time_nanos() > 0) {
        start = profile.time_nanos();
        end = start + std::max<int64_t>(profile.duration_nanos(), 0);
      } else {
        start = end - std::max<int64_t>(profile.duration_nanos(), 0);
      }
      UploadParts parts{.app_name = service != nullptr ? *service : "unknown",
                        .labels = &labels,
                        .language = language,
                        .extra = {{"input_format", "push"}},
                        .start_unix_nanos = start,
                        .end_unix_nanos = end,
                        .attachment_name = AttachmentName(SampleTypes(profile),
                                                          metric ? *metric : "", spy ? *spy : ""),
                        .data = std::move(prepared->gzip)};
      if (spy != nullptr) parts.extra.emplace_back("spy_name", *spy);
      uploads.push_back(BuildUpload(context, std::move(parts)));
    }
  }
  for (const forward::ProfileUpload& upload : uploads) {
    Response answer = Queue(upload, deliver, true);
    if (answer.status != 200) return answer;
  }
  return Response{200, "", "application/proto"};
}

}  // namespace profkit::pyroscope
