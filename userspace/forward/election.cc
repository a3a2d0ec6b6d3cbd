#include "profkit/forward/election.h"
#include "profkit/common/quoted.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "profkit/common/log.h"
#include "profkit/forward/dataway_url.h"

namespace profkit::forward {
namespace {

// Error replies are logged for diagnosis; a proxy's HTML page needn't flood the log.
constexpr size_t kMaxLoggedReplyBytes = 256;
// Reply strings (ids, messages) kept for logs.
constexpr size_t kMaxReplyStringBytes = 256;

std::string BoundedString(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>().substr(0, kMaxReplyStringBytes);
}

}  // namespace

Result<ElectionReply> ParseElectionReply(std::string_view body) {
  const nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Status::InvalidInput("election reply is not JSON");
  const auto content = json.is_object() ? json.find("content") : json.end();
  if (content == json.end() || !content->is_object()) {
    return Status::InvalidInput("election reply has no \"content\" object");
  }
  ElectionReply reply;
  const std::string status = BoundedString(*content, "status");
  if (status == "success") {
    reply.leader = true;
  } else if (status != "defeat") {
    return Status::InvalidInputf("election reply: unknown status {}", Quoted(status));
  }
  if (const auto interval = content->find("interval");
      interval != content->end() && interval->is_number()) {
    const double seconds = interval->get<double>();
    reply.interval = std::chrono::seconds(static_cast<int64_t>(
        std::clamp<double>(seconds, kMinElectionInterval.count(), kMaxElectionInterval.count())));
  }
  reply.incumbency_id = BoundedString(*content, "incumbency_id");
  reply.error_msg = BoundedString(*content, "error_msg");
  return reply;
}

Result<std::unique_ptr<DatawayElection>> DatawayElection::Start(ElectionOptions options,
                                                                OnChange on_change) {
  PROFKIT_ASSIGN_OR_RETURN(
      std::string election_url,
      ElectionUrl(options.dataway_url, kElectionPath, options.election_namespace, options.id));
  PROFKIT_ASSIGN_OR_RETURN(std::string heartbeat_url,
                           ElectionUrl(options.dataway_url, kElectionHeartbeatPath,
                                       options.election_namespace, options.id));
  std::unique_ptr<DatawayElection> election(new DatawayElection(
      std::move(options), std::move(on_change), std::move(election_url), std::move(heartbeat_url)));
  election->thread_ = std::thread([raw = election.get()] { raw->Run(); });
  return election;
}

DatawayElection::DatawayElection(ElectionOptions options, OnChange on_change,
                                 std::string election_url, std::string heartbeat_url)
    : options_(std::move(options)),
      on_change_(std::move(on_change)),
      election_url_(std::move(election_url)),
      heartbeat_url_(std::move(heartbeat_url)) {}

DatawayElection::~DatawayElection() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DatawayElection::Run() {
  HttpClient client;
  spdlog::info("election: candidate in namespace {} as {}; pull inputs wait for leadership",
               Quoted(options_.election_namespace), Quoted(options_.id));
  while (!stop_.load()) {
    const std::chrono::milliseconds wait = Step(client);
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, wait, [this] { return stop_.load(); });
  }
}

std::chrono::milliseconds DatawayElection::Step(HttpClient& client) {
  const bool leader = leader_.load();
  HttpRequest request;
  request.url = leader ? heartbeat_url_ : election_url_;
  request.headers = {{"User-Agent", "profkit"}};
  request.timeout = options_.request_timeout;
  request.cancel = &stop_;
  ++counters_.requests;
  const Result<HttpResponse> response = client.Post(request);
  if (stop_.load()) return options_.retry_interval;

  Status error;
  Result<ElectionReply> reply = Status::Internal("no reply");
  if (!response.ok()) {
    error = response.status();
  } else if (response->status < 200 || response->status >= 300) {
    error = Status::Unavailablef(
        "HTTP {} {}", response->status,
        Quoted(std::string_view(response->body).substr(0, kMaxLoggedReplyBytes)));
  } else {
    reply = ParseElectionReply(response->body);
    if (!reply.ok()) error = reply.status();
  }
  const std::string_view what = leader ? "heartbeat" : "election request";
  if (!error.ok()) {
    ++counters_.failures;
    if (!last_call_failed_) {
      spdlog::warn("election: {} to {} failed: {}; retrying every {} ms", what,
                   UrlWithoutSecrets(request.url), error.message(),
                   options_.retry_interval.count());
    }
    last_call_failed_ = true;
    if (leader && ++failed_heartbeats_ >= kMaxFailedHeartbeats) {
      SetLeader(false, fmt::format("{} heartbeats failed", failed_heartbeats_));
    }
    return options_.retry_interval;
  }
  if (last_call_failed_) spdlog::info("election: Dataway answers again");
  last_call_failed_ = false;
  failed_heartbeats_ = 0;
  if (reply->leader != leader) {
    std::string why = reply->leader ? "Dataway elected this agent"
                      : reply->incumbency_id.empty()
                          ? "Dataway answered defeat"
                          : fmt::format("Dataway chose {}", Quoted(reply->incumbency_id));
    if (!reply->error_msg.empty()) why += fmt::format(" ({})", reply->error_msg);
    SetLeader(reply->leader, why);
  }
  return reply->interval;
}

void DatawayElection::SetLeader(bool leader, std::string_view why) {
  leader_ = leader;
  failed_heartbeats_ = 0;
  ++counters_.changes;
  if (leader) {
    spdlog::info("election: leader of namespace {}: {}; pull inputs run",
                 Quoted(options_.election_namespace), why);
  } else {
    spdlog::warn("election: not the leader of namespace {} any more: {}; pull inputs pause",
                 Quoted(options_.election_namespace), why);
  }
  on_change_(leader);
}

}  // namespace profkit::forward
