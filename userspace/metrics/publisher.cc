#include "profkit/metrics/publisher.h"
#include "profkit/common/quoted.h"

#include <fmt/format.h>
#include <time.h>

#include <charconv>

#include "profkit/common/log.h"
#include "profkit/forward/dataway_url.h"

namespace profkit::metrics {
namespace {

using Tags = std::vector<std::pair<std::string, std::string>>;

// A tracer with a broken profiler uploads every minute forever: one line a minute is plenty.
LogLimiter failure_log(60'000'000'000);

void SetTag(Tags& tags, std::string_view key, std::string_view value) {
  for (auto& [k, v] : tags) {
    if (k == key) {
      v = value;
      return;
    }
  }
  tags.emplace_back(key, value);
}

Result<std::string> Line(const ProfileInput& input, Tags tags, const MetricsOptions& options) {
  PROFKIT_ASSIGN_OR_RETURN(std::vector<Field> fields, ComputeFields(input, options.max_part_bytes));
  if (fields.empty()) return std::string();
  for (const auto& [key, value] : options.tags) SetTag(tags, key, value);
  return FormatLine(
      Point{std::string(kMeasurement), std::move(tags), std::move(fields), input.end_unix_nanos});
}

bool ParseDigits(std::string_view text, int& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

Result<int64_t> ParseRfc3339Nanos(std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidInputf("{} is not an RFC 3339 time", Quoted(text));
  };
  // YYYY-MM-DDTHH:MM:SS is 19 characters, then an optional fraction, then Z or ±HH:MM.
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return bad();
  }
  struct tm tm = {};
  int year = 0, month = 0;
  if (!ParseDigits(text.substr(0, 4), year) || !ParseDigits(text.substr(5, 2), month) ||
      !ParseDigits(text.substr(8, 2), tm.tm_mday) || !ParseDigits(text.substr(11, 2), tm.tm_hour) ||
      !ParseDigits(text.substr(14, 2), tm.tm_min) || !ParseDigits(text.substr(17, 2), tm.tm_sec)) {
    return bad();
  }
  if (month < 1 || month > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return bad();
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  size_t pos = 19;
  int64_t fraction = 0;
  if (pos < text.size() && text[pos] == '.') {
    int digits = 0;
    for (++pos; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, ++digits) {
      if (digits < 9) fraction = fraction * 10 + (text[pos] - '0');
    }
    if (digits == 0) return bad();
    for (; digits < 9; ++digits) fraction *= 10;
  }
  int64_t offset_seconds = 0;
  const std::string_view zone = text.substr(pos);
  if (zone != "Z" && zone != "z") {
    int hours = 0, minutes = 0;
    if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':' ||
        !ParseDigits(zone.substr(1, 2), hours) || !ParseDigits(zone.substr(4, 2), minutes) ||
        hours > 23 || minutes > 59) {
      return bad();
    }
    offset_seconds = (zone[0] == '-' ? -1 : 1) * (hours * 3600 + minutes * 60);
  }
  const int64_t seconds = static_cast<int64_t>(timegm(&tm)) - offset_seconds;
  return seconds * 1'000'000'000 + fraction;
}

Result<std::string> FromUpload(const forward::ProfileUpload& upload,
                               const MetricsOptions& options) {
  ProfileInput input{upload.language, upload.start_unix_nanos, upload.end_unix_nanos, {}};
  for (const forward::Attachment& attachment : upload.attachments) {
    input.files.push_back({attachment.name, attachment.name, attachment.data});
  }
  Tags tags = {{"language", upload.language},
               {"host", upload.host.empty() ? options.host : upload.host},
               {"service", upload.service},
               {"env", upload.env},
               {"version", upload.version}};
  return Line(input, std::move(tags), options);
}

Result<std::string> FromPushedProfile(const PushedProfile& profile, const MetricsOptions& options) {
  if (!HasMetrics(profile.language)) return std::string();
  ProfileInput input{.language = profile.language};
  for (const PushedProfile::File& file : profile.files) {
    input.files.push_back({file.name, file.filename, file.data});
  }
  PROFKIT_ASSIGN_OR_RETURN(input.start_unix_nanos,
                           ParseRfc3339Nanos(profile.start).WithContext("event start"));
  PROFKIT_ASSIGN_OR_RETURN(input.end_unix_nanos,
                           ParseRfc3339Nanos(profile.end).WithContext("event end"));

  Tags tags = {
      {"language", input.language}, {"host", ""}, {"service", ""}, {"env", ""}, {"version", ""}};
  for (const auto& [key, value] : profile.tags) {
    for (auto& [k, v] : tags) {
      if (k == key && k != "language" && v.empty()) v = value;
    }
  }
  if (tags[1].second.empty()) tags[1].second = options.host;
  return Line(input, std::move(tags), options);
}

Publisher::Publisher(MetricsOptions options, Enqueue enqueue)
    : options_(std::move(options)), enqueue_(std::move(enqueue)) {}

Publisher::~Publisher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Publisher::PublishLater(PushedProfile profile) {
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() >= kMaxPendingUploads) {
      ++shed_;
      if (const int64_t suppressed = failure_log.Allow(); suppressed >= 0) {
        spdlog::warn("profiling_metrics: {} uploads wait for their metrics; not measuring more "
                     "({} more since the last line; the uploads are forwarded)",
                     kMaxPendingUploads, suppressed);
      }
      return;
    }
    pending_.push_back(std::move(profile));
    if (!thread_.joinable()) thread_ = std::thread([this] { RunLater(); });
  }
  wake_.notify_one();
}

void Publisher::RunLater() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, everything published
    const PushedProfile profile = std::move(pending_.front());
    pending_.pop_front();
    lock.unlock();
    Publish(profile);
    lock.lock();
  }
}

void Publisher::Publish(const forward::ProfileUpload& upload) {
  if (!HasMetrics(upload.language)) return;
  Queue(FromUpload(upload, options_), upload.service);
}

void Publisher::Publish(const PushedProfile& profile) {
  Queue(FromPushedProfile(profile, options_), profile.service);
}

void Publisher::Queue(const Result<std::string>& line, std::string_view service) {
  Status status = line.status();
  if (status.ok() && line->empty()) {
    ++skipped_;
    return;
  }
  if (status.ok()) {
    status = enqueue_(forward::QueuedRequest{std::string(forward::kDatawayMetricPath),
                                             std::string(kLineProtocolContentType),
                                             std::string(service), *line});
  }
  if (status.ok()) {
    ++points_;
    return;
  }
  ++errors_;
  if (const int64_t suppressed = failure_log.Allow(); suppressed >= 0) {
    spdlog::warn("profiling_metrics: no metrics for a profile of service {} ({} more since the "
                 "last line; the profile itself is forwarded): {}",
                 Quoted(service), suppressed, status.message());
  }
}

PublisherCounters Publisher::counters() const {
  return PublisherCounters{points_.load(), skipped_.load(), errors_.load(), shed_.load()};
}

}  // namespace profkit::metrics
