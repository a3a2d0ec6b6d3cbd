#include "profkit/forward/dataway_sink.h"

#include <algorithm>
#include <utility>

#include "profkit/common/clock.h"
#include "profkit/common/log.h"
#include "profkit/forward/dataway_url.h"

namespace profkit::forward {
namespace {

// Error bodies are logged for diagnosis; a proxy's HTML page needn't flood the log.
constexpr size_t kMaxLoggedResponseBytes = 256;

bool Retryable(long status) { return status >= 500 || status == 429 || status == 408; }

}  // namespace

Result<std::unique_ptr<DatawaySink>> DatawaySink::Create(DatawayOptions options) {
  PROFKIT_ASSIGN_OR_RETURN(std::string upload_url, DatawayUploadUrl(options.url));
  if (options.max_attempts < 1) return Status::Error("dataway: max_attempts must be at least 1");
  if (options.send_timeout.count() <= 0) return Status::Error("dataway: send_timeout must be > 0");
  if (options.initial_backoff.count() <= 0 || options.max_backoff < options.initial_backoff) {
    return Status::Error("dataway: need 0 < initial_backoff <= max_backoff");
  }
  if (options.max_queued_bytes == 0) return Status::Error("dataway: max_queued_bytes must be > 0");
  return std::unique_ptr<DatawaySink>(new DatawaySink(std::move(options), std::move(upload_url)));
}

DatawaySink::DatawaySink(DatawayOptions options, std::string upload_url)
    : options_(std::move(options)),
      upload_url_(std::move(upload_url)),
      jitter_(std::random_device()()) {
  sender_ = std::thread([this] { Run(); });
}

DatawaySink::~DatawaySink() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    abort_ = true;
  }
  wake_sender_.notify_all();
  sender_.join();
  if (!queue_.empty()) {
    spdlog::warn("dataway: discarding {} queued uploads ({} bytes) at shutdown", queue_.size(),
                 counters_.queued_bytes);
  }
}

void DatawaySink::Submit(ProfileUpload upload) {
  MultipartBody multipart = BuildMultipartUpload(upload);
  Pending item{std::move(upload.service), upload.end_unix_nanos, std::move(multipart)};
  {
    std::lock_guard lock(mutex_);
    counters_.queued_bytes += item.multipart.body.size();
    queue_.push_back(std::move(item));
    while (counters_.queued_bytes > options_.max_queued_bytes && !queue_.empty()) {
      ++counters_.dropped_overflow;
      DropLocked(queue_.front(), "the queue is over max_queued_bytes");
      queue_.pop_front();
    }
  }
  wake_sender_.notify_one();
}

void DatawaySink::Flush(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  const auto idle = [this] { return queue_.empty() && !in_flight_; };
  if (idle_.wait_until(lock, deadline, idle)) return;
  // Out of time: take back the upload in flight (its request is cancelled) and drop everything.
  abort_ = true;
  wake_sender_.notify_all();
  idle_.wait(lock, [this] { return !in_flight_; });
  while (!queue_.empty()) {
    ++counters_.dropped_shutdown;
    DropLocked(queue_.front(), "the flush deadline passed");
    queue_.pop_front();
  }
  abort_ = stopping_;
}

DatawaySink::Counters DatawaySink::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

void DatawaySink::DropLocked(const Pending& item, const char* why) {
  counters_.queued_bytes -= item.multipart.body.size();
  spdlog::warn("dataway: dropping the profile of service {:?} ending {} ({} bytes): {}",
               item.service, FormatRfc3339Nano(item.end_unix_nanos), item.multipart.body.size(),
               why);
}

bool DatawaySink::AbortRequested() const { return stopping_ || abort_; }

void DatawaySink::Run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_sender_.wait(lock, [this] { return stopping_ || (!queue_.empty() && !abort_); });
    if (stopping_) return;
    Pending item = std::move(queue_.front());
    queue_.pop_front();
    in_flight_ = true;
    lock.unlock();
    const Outcome outcome = Deliver(item);
    lock.lock();
    in_flight_ = false;
    switch (outcome) {
      case Outcome::kSent:
        ++counters_.sent;
        counters_.queued_bytes -= item.multipart.body.size();
        break;
      case Outcome::kPermanent:
        ++counters_.dropped_permanent;
        counters_.queued_bytes -= item.multipart.body.size();
        break;
      case Outcome::kRetryLater:
        // queued_bytes still counts this upload: over the limit, it is the one to go.
        if (counters_.queued_bytes > options_.max_queued_bytes) {
          ++counters_.dropped_overflow;
          DropLocked(item, "the queue is over max_queued_bytes");
        } else {
          queue_.push_back(std::move(item));
        }
        break;
      case Outcome::kAborted:
        queue_.push_front(std::move(item));
        break;
    }
    idle_.notify_all();
  }
}

bool DatawaySink::WaitBackoff() {
  // Full jitter: uniform in [0, min(max, initial * 2^(failures - 1))].
  const int doublings = std::min(consecutive_failures_ - 1, 30);
  const int64_t ceiling = std::min<int64_t>(options_.max_backoff.count(),
                                            options_.initial_backoff.count() << doublings);
  const std::chrono::milliseconds delay(
      std::uniform_int_distribution<int64_t>(0, ceiling)(jitter_));
  std::unique_lock lock(mutex_);
  return !wake_sender_.wait_for(lock, delay, [this] { return AbortRequested(); });
}

DatawaySink::Outcome DatawaySink::Deliver(Pending& item) {
  HttpRequest request;
  request.url = upload_url_;
  request.headers = {{"Content-Type", item.multipart.content_type}, {"User-Agent", "profkit"}};
  request.timeout = options_.send_timeout;
  request.cancel = &abort_;
  // The body moves into the request for the attempts and back into the item afterwards.
  request.body = std::move(item.multipart.body);
  const auto finish = [&](Outcome outcome) {
    item.multipart.body = std::move(request.body);
    return outcome;
  };
  const std::string what = fmt::format("the profile of service {:?} ending {}", item.service,
                                       FormatRfc3339Nano(item.end_unix_nanos));

  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (consecutive_failures_ > 0 && !WaitBackoff()) return finish(Outcome::kAborted);
    if (abort_) return finish(Outcome::kAborted);
    if (item.failed_before) {
      std::lock_guard lock(mutex_);
      ++counters_.retries;
    }
    const Result<HttpResponse> response = client_.Post(request);
    if (!response.ok()) {
      if (abort_) return finish(Outcome::kAborted);
      spdlog::warn("dataway: sending {} (attempt {}/{}): {}", what, attempt, options_.max_attempts,
                   response.status().message());
    } else if (response->status >= 200 && response->status < 300) {
      consecutive_failures_ = 0;
      return finish(Outcome::kSent);
    } else {
      const std::string_view body =
          std::string_view(response->body).substr(0, kMaxLoggedResponseBytes);
      if (!Retryable(response->status)) {
        // Dataway is up and answering; its refusal says nothing about the next upload.
        consecutive_failures_ = 0;
        spdlog::error("dataway: rejected {} with HTTP {} {:?}; dropped", what, response->status,
                      body);
        return finish(Outcome::kPermanent);
      }
      spdlog::warn("dataway: sending {} (attempt {}/{}): HTTP {} {:?}", what, attempt,
                   options_.max_attempts, response->status, body);
    }
    ++consecutive_failures_;
    item.failed_before = true;
  }
  spdlog::warn("dataway: {} goes back to the queue after {} failed attempts", what,
               options_.max_attempts);
  return finish(Outcome::kRetryLater);
}

}  // namespace profkit::forward
