#include "profkit/pull/go_round.h"

#include <algorithm>
#include <array>

#include "profkit/common/compression.h"
#include "profkit/profile/pprof_builder.h"
#include "profkit/pull/delta.h"

namespace profkit::pull {

using config::GoProfileType;
using config::GoProfileTypeName;
using config::GoTarget;

namespace {

// Time the round needs besides the CPU profile (heap, goroutine, ... are served in milliseconds).
constexpr std::chrono::seconds kRoundSlack{5};
// dd-trace-go's default CPU profile duration; longer recordings only delay the data.
constexpr std::chrono::seconds kMaxCpuProfileDuration{60};

namespace pb = perftools::profiles;

// cpu first: it takes the round's recording time, the others are snapshots taken after it.
constexpr std::array<GoProfileType, 6> kFetchOrder = {
    GoProfileType::kCpu,   GoProfileType::kHeap,  GoProfileType::kAllocs,
    GoProfileType::kMutex, GoProfileType::kBlock, GoProfileType::kGoroutine};

Result<std::string> GzipProfile(const pb::Profile& profile) {
  std::string raw;
  if (!profile.SerializeToString(&raw))
    return Status::Internal("serializing a delta profile failed");
  return GzipCompress(raw);
}

}  // namespace

std::string_view AttachmentName(GoProfileType type) {
  switch (type) {
    case GoProfileType::kCpu:
      return "cpu.pprof";
    case GoProfileType::kHeap:
      return "delta-heap.pprof";
    case GoProfileType::kGoroutine:
      return "goroutines.pprof";
    case GoProfileType::kMutex:
      return "delta-mutex.pprof";
    case GoProfileType::kBlock:
      return "delta-block.pprof";
    case GoProfileType::kAllocs:
      return "delta-allocs.pprof";
  }
  return "unknown.pprof";
}

std::chrono::seconds CpuProfileDuration(std::chrono::seconds interval) {
  return std::clamp(interval - kRoundSlack, std::chrono::seconds(1), kMaxCpuProfileDuration);
}

bool FetchRound(const GoTarget& target, PprofFetcher& fetcher, std::chrono::seconds cpu_seconds,
                RawRound* round, FetchError* error) {
  round->profiles.clear();
  for (const GoProfileType type : kFetchOrder) {
    if (std::find(target.enabled_types.begin(), target.enabled_types.end(), type) ==
        target.enabled_types.end()) {
      continue;
    }
    FetchedProfile fetched;
    if (!fetcher.Fetch(type, cpu_seconds, &fetched, error)) return false;
    if (round->profiles.empty()) round->start_unix_nanos = fetched.start_unix_nanos;
    round->end_unix_nanos = fetched.end_unix_nanos;
    round->profiles.emplace(type, std::move(fetched));
  }
  return true;
}

Result<RoundResult> DeltaState::Process(const GoTarget& target, const RawRound& round) {
  // Parse everything first, so that garbage in one profile leaves the previous state intact.
  std::map<GoProfileType, pb::Profile> parsed;
  for (const auto& [type, fetched] : round.profiles) {
    auto profile = profile::ParsePprof(fetched.body, kMaxDecompressedProfileBytes);
    if (!profile.ok()) {
      return profile.status().WithContext(fmt::format("{} profile", GoProfileTypeName(type)));
    }
    parsed.emplace(type, std::move(*profile));
  }

  RoundResult result;
  forward::ProfileUpload& upload = result.upload;
  upload.service = target.service;
  upload.env = target.env;
  upload.version = target.version;
  upload.language = "golang";
  upload.profiler = "pprof";
  upload.format = "pprof";
  upload.extra_tags = target.tags;
  upload.start_unix_nanos = round.start_unix_nanos;
  upload.end_unix_nanos = round.end_unix_nanos;

  std::map<GoProfileType, pb::Profile> next_previous;
  for (auto& [type, profile] : parsed) {
    const std::vector<std::string> delta_types = DeltaSampleTypes(type);
    std::string data;
    if (delta_types.empty()) {
      const std::string& body = round.profiles.at(type).body;
      if (DetectCompression(body) == Compression::kGzip) {
        data = body;  // Go's own gzip output, already validated
      } else {
        PROFKIT_ASSIGN_OR_RETURN(data, GzipCompress(body));
      }
      if (type == GoProfileType::kGoroutine) {
        result.num_goroutine = SumSampleType(profile, "goroutine");
      }
    } else {
      const auto previous = previous_.find(type);
      if (previous != previous_.end()) {
        PROFKIT_ASSIGN_OR_RETURN(
            pb::Profile delta,
            ComputeDelta(previous->second, profile, delta_types, &result.delta_stats)
                .WithContext(fmt::format("{} profile", GoProfileTypeName(type))));
        PROFKIT_ASSIGN_OR_RETURN(data, GzipProfile(delta));
      }
      next_previous.emplace(type, std::move(profile));
    }
    if (!data.empty()) {
      upload.attachments.push_back(
          {std::string(AttachmentName(type)), "application/octet-stream", std::move(data)});
    }
  }
  for (auto& [type, profile] : next_previous) previous_[type] = std::move(profile);
  return result;
}

}  // namespace profkit::pull
