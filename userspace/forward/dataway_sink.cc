#include "profkit/forward/dataway_sink.h"
#include "profkit/common/quoted.h"

#include <algorithm>
#include <utility>

#include "profkit/common/limits.h"
#include "profkit/common/log.h"
#include "profkit/forward/dataway_url.h"

namespace profkit::forward {
namespace {

// Error bodies are logged for diagnosis; a proxy's HTML page needn't flood the log.
constexpr size_t kMaxLoggedResponseBytes = 256;
// Workers wake this often while the queue is empty (Close wakes them at once anyway).
constexpr std::chrono::seconds kTakeWait{1};

bool Retryable(long status) { return status >= 500 || status == 429 || status == 408; }

}  // namespace

Result<std::unique_ptr<DatawaySink>> DatawaySink::Create(DatawayOptions options) {
  PROFKIT_RETURN_IF_ERROR(DatawayUploadUrl(options.url).status());
  if (options.max_attempts < 1)
    return Status::InvalidInput("dataway: max_attempts must be at least 1");
  if (options.upload_workers < 1 || options.upload_workers > kMaxUploadWorkers) {
    return Status::InvalidInputf("dataway: upload_workers must be in 1..{}", kMaxUploadWorkers);
  }
  if (options.send_timeout.count() <= 0)
    return Status::InvalidInput("dataway: send_timeout must be > 0");
  if (options.initial_backoff.count() <= 0 || options.max_backoff < options.initial_backoff) {
    return Status::InvalidInput("dataway: need 0 < initial_backoff <= max_backoff");
  }
  PROFKIT_ASSIGN_OR_RETURN(std::unique_ptr<DiskQueue> queue, DiskQueue::Open(options.queue));
  return std::unique_ptr<DatawaySink>(new DatawaySink(std::move(options), std::move(queue)));
}

DatawaySink::DatawaySink(DatawayOptions options, std::unique_ptr<DiskQueue> queue)
    : options_(std::move(options)), queue_(std::move(queue)) {
  for (int i = 0; i < options_.upload_workers; ++i) {
    workers_.emplace_back([this] { RunWorker(); });
  }
}

DatawaySink::~DatawaySink() {
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  queue_->Close();
  for (std::thread& worker : workers_) worker.join();
  const DiskQueueCounters queue = queue_->counters();
  if (queue.pending_records > 0) {
    spdlog::info("dataway: {} records stay queued in {} for the next start", queue.pending_records,
                 options_.queue.dir);
  }
}

Status DatawaySink::EnqueueUpload(const ProfileUpload& upload) {
  MultipartBody multipart = BuildMultipartUpload(upload);
  return Enqueue(QueuedRequest{std::string(kDatawayUploadPath), std::move(multipart.content_type),
                               upload.service, std::move(multipart.body)});
}

Status DatawaySink::Enqueue(const QueuedRequest& request) {
  return queue_->Push(EncodeQueuedRequest(request));
}

void DatawaySink::Flush(std::chrono::steady_clock::time_point deadline) {
  if (queue_->WaitEmpty(deadline)) return;
  spdlog::warn("dataway: {} records not delivered yet; they stay queued in {}",
               queue_->counters().pending_records, options_.queue.dir);
}

DatawaySink::Counters DatawaySink::counters() const {
  std::lock_guard lock(mutex_);
  Counters counters = counters_;
  counters.queue = queue_->counters();
  return counters;
}

Result<std::string> DatawaySink::UrlFor(const std::string& path) {
  std::lock_guard lock(mutex_);
  if (const auto it = urls_.find(path); it != urls_.end()) return it->second;
  PROFKIT_ASSIGN_OR_RETURN(std::string url, DatawayEndpointUrl(options_.url, path));
  return urls_.emplace(path, std::move(url)).first->second;
}

void DatawaySink::RunWorker() {
  HttpClient client;
  std::mt19937_64 jitter(std::random_device{}());
  while (!stopping_) {
    std::optional<DiskQueue::Lease> lease =
        queue_->Take(std::chrono::steady_clock::now() + kTakeWait);
    if (!lease) continue;
    Result<QueuedRequest> request = DecodeQueuedRequest(lease->payload);
    if (!request.ok()) {
      spdlog::error("dataway: dropping queue record {}: {}", lease->id, request.status().message());
      {
        std::lock_guard lock(mutex_);
        ++counters_.dropped_undecodable;
      }
      queue_->Ack(lease->id);
      continue;
    }
    switch (Deliver(*request, client, jitter)) {
      case Outcome::kSent: {
        std::lock_guard lock(mutex_);
        ++counters_.sent;
      }
        queue_->Ack(lease->id);
        break;
      case Outcome::kPermanent: {
        std::lock_guard lock(mutex_);
        ++counters_.dropped_permanent;
      }
        queue_->Ack(lease->id);
        break;
      case Outcome::kRetryLater:
      case Outcome::kAborted:
        queue_->Release(lease->id);
        break;
    }
  }
}

bool DatawaySink::WaitBackoff(std::mt19937_64& jitter) {
  // Full jitter: uniform in [0, min(max, initial * 2^(failures - 1))].
  const int doublings = std::clamp(consecutive_failures_.load() - 1, 0, 30);
  const int64_t ceiling = std::min<int64_t>(options_.max_backoff.count(),
                                            options_.initial_backoff.count() << doublings);
  const std::chrono::milliseconds delay(std::uniform_int_distribution<int64_t>(0, ceiling)(jitter));
  std::unique_lock lock(stop_mutex_);
  return !stop_cv_.wait_for(lock, delay, [this] { return stopping_.load(); });
}

DatawaySink::Outcome DatawaySink::Deliver(const QueuedRequest& queued, HttpClient& client,
                                          std::mt19937_64& jitter) {
  const std::string what = fmt::format("{} ({} bytes) of service {}", queued.path,
                                       queued.body.size(), Quoted(queued.service));
  Result<std::string> url = UrlFor(queued.path);
  if (!url.ok()) {
    spdlog::error("dataway: dropping {}: {}", what, url.status().message());
    return Outcome::kPermanent;
  }
  HttpRequest request;
  request.url = std::move(url).value();
  request.headers = {{"Content-Type", queued.content_type}, {"User-Agent", "profkit"}};
  request.timeout = options_.send_timeout;
  request.cancel = &stopping_;
  // One copy per delivery: the HTTP client owns its body.
  request.body = queued.body;

  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (consecutive_failures_ > 0 && !WaitBackoff(jitter)) return Outcome::kAborted;
    if (stopping_) return Outcome::kAborted;
    const Result<HttpResponse> response = client.Post(request);
    if (!response.ok()) {
      if (stopping_) return Outcome::kAborted;
      spdlog::warn("dataway: sending {} (attempt {}/{}): {}", what, attempt, options_.max_attempts,
                   response.status().message());
    } else if (response->status >= 200 && response->status < 300) {
      consecutive_failures_ = 0;
      return Outcome::kSent;
    } else {
      const std::string_view body =
          std::string_view(response->body).substr(0, kMaxLoggedResponseBytes);
      if (!Retryable(response->status)) {
        // Dataway is up and answering; its refusal says nothing about the next record.
        consecutive_failures_ = 0;
        spdlog::error("dataway: rejected {} with HTTP {} {}; dropped", what, response->status,
                      Quoted(body));
        return Outcome::kPermanent;
      }
      spdlog::warn("dataway: sending {} (attempt {}/{}): HTTP {} {}", what, attempt,
                   options_.max_attempts, response->status, Quoted(body));
    }
    ++consecutive_failures_;
    std::lock_guard lock(mutex_);
    ++counters_.failed_attempts;
  }
  spdlog::warn("dataway: {} goes back to the queue after {} failed attempts", what,
               options_.max_attempts);
  return Outcome::kRetryLater;
}

}  // namespace profkit::forward
