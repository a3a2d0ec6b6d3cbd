#include "go_pull_config.h"

#include <chrono>
#include <string>

namespace profkit::config {
namespace {

// One puller thread per target; more targets than this belong to several agents.
constexpr size_t kMaxGoTargets = 64;
// Longer intervals make deltas span so much that the data is stale when it arrives.
constexpr std::chrono::nanoseconds kMaxPullInterval = std::chrono::hours(1);
// Tags end up in event.json's tags_profiler, bounded like [inputs.profile.tags].
constexpr size_t kMaxGoTagBytes = 200;
// A target's service/env/version are tags too.
constexpr size_t kMaxGoTagFields = 64;

Status CheckTag(const TomlSection& section, std::string_view key, const std::string& value) {
  if (value.size() > kMaxGoTagBytes) {
    return Status::InvalidInputf("{}: longer than {} bytes", section.KeyPath(key), kMaxGoTagBytes);
  }
  return Status::Ok();
}

Status ParseGoTarget(const TomlSection& section, pull::GoTarget* out) {
  PROFKIT_RETURN_IF_ERROR(section.String("url", &out->url));
  if (out->url.empty()) return Status::InvalidInputf("{}: required", section.KeyPath("url"));
  std::chrono::nanoseconds interval = out->interval;
  PROFKIT_RETURN_IF_ERROR(
      section.Duration("interval", pull::kMinPullInterval, kMaxPullInterval, &interval));
  // Whole seconds: the CPU profile's ?seconds= and the round grid are in seconds.
  out->interval = std::chrono::duration_cast<std::chrono::seconds>(interval);
  for (const auto& [key, field] : {std::pair{"service", &out->service},
                                   std::pair{"env", &out->env}, std::pair{"version", &out->version}}) {
    PROFKIT_RETURN_IF_ERROR(section.String(key, field));
    PROFKIT_RETURN_IF_ERROR(CheckTag(section, key, *field));
  }
  std::vector<std::string> types;  // the default unless the key is set
  for (const pull::GoProfileType type : out->enabled_types) {
    types.emplace_back(pull::GoProfileTypeName(type));
  }
  PROFKIT_RETURN_IF_ERROR(section.StringArray("enabled_types", &types));
  out->enabled_types.clear();
  for (const std::string& name : types) {
    Result<pull::GoProfileType> type = pull::ParseGoProfileType(name);
    if (!type.ok()) return type.status().WithContext(section.KeyPath("enabled_types"));
    out->enabled_types.push_back(*type);
  }
  PROFKIT_RETURN_IF_ERROR(section.StringMap("tags", &out->tags));
  if (out->tags.size() > kMaxGoTagFields) {
    return Status::InvalidInputf("{}: at most {} tags", section.KeyPath("tags"), kMaxGoTagFields);
  }
  for (const auto& [key, value] : out->tags) {
    if (key.size() > kMaxGoTagBytes) {
      return Status::InvalidInputf("{}: tag keys must have at most {} bytes", section.KeyPath("tags"),
                            kMaxGoTagBytes);
    }
    PROFKIT_RETURN_IF_ERROR(CheckTag(section, "tags." + key, value));
  }
  PROFKIT_RETURN_IF_ERROR(section.Bool("tls_open", &out->tls_open));
  PROFKIT_RETURN_IF_ERROR(section.String("tls_ca", &out->tls_ca));
  PROFKIT_RETURN_IF_ERROR(section.String("tls_cert", &out->tls_cert));
  PROFKIT_RETURN_IF_ERROR(section.String("tls_key", &out->tls_key));
  PROFKIT_RETURN_IF_ERROR(section.Bool("insecure_skip_verify", &out->insecure_skip_verify));
  // Its messages start with the field name ("interval: ...", "tls_cert and tls_key: ...").
  return pull::ValidateGoTarget(*out).WithContext(section.path());
}

}  // namespace

Status ParseGoTargets(const TomlSection& profile, std::vector<pull::GoTarget>* out) {
  PROFKIT_ASSIGN_OR_RETURN(const std::vector<TomlSection> sections, profile.TableArray("go"));
  if (sections.size() > kMaxGoTargets) {
    return Status::InvalidInputf("{}: at most {} targets", profile.KeyPath("go"), kMaxGoTargets);
  }
  out->clear();
  for (const TomlSection& section : sections) {
    pull::GoTarget target;
    PROFKIT_RETURN_IF_ERROR(ParseGoTarget(section, &target));
    out->push_back(std::move(target));
  }
  return Status::Ok();
}

}  // namespace profkit::config
