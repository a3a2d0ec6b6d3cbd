#include "go_pull_config.h"

#include <chrono>
#include <string>

#include "profkit/common/limits.h"

namespace profkit::config {
namespace {

// One puller thread per target; more targets than this belong to several agents.
constexpr size_t kMaxGoTargets = 64;
// Longer intervals make deltas span so much that the data is stale when it arrives.
constexpr std::chrono::nanoseconds kMaxPullInterval = std::chrono::hours(1);
// A target's service/env/version are tags too.
constexpr size_t kMaxGoTagFields = 64;

Status CheckTag(const TomlSection& section, std::string_view key, const std::string& value) {
  if (value.size() > kMaxTagBytes) {
    return Status::InvalidInputf("{}: longer than {} bytes", section.KeyPath(key), kMaxTagBytes);
  }
  return Status::Ok();
}

Result<GoTarget> ParseGoTarget(const TomlSection& section) {
  GoTarget target;
  PROFKIT_ASSIGN_OR_RETURN(target.url, section.String("url", target.url));
  if (target.url.empty()) return Status::InvalidInputf("{}: required", section.KeyPath("url"));
  PROFKIT_ASSIGN_OR_RETURN(
      const std::chrono::nanoseconds interval,
      section.Duration("interval", kMinPullInterval, kMaxPullInterval, target.interval));
  // Whole seconds: the CPU profile's ?seconds= and the round grid are in seconds.
  target.interval = std::chrono::duration_cast<std::chrono::seconds>(interval);
  for (const auto& [key, field] :
       {std::pair{"service", &target.service}, std::pair{"env", &target.env},
        std::pair{"version", &target.version}}) {
    PROFKIT_ASSIGN_OR_RETURN(*field, section.String(key, *field));
    PROFKIT_RETURN_IF_ERROR(CheckTag(section, key, *field));
  }
  std::vector<std::string> default_types;
  for (const config::GoProfileType type : target.enabled_types) {
    default_types.emplace_back(config::GoProfileTypeName(type));
  }
  PROFKIT_ASSIGN_OR_RETURN(const std::vector<std::string> types,
                           section.StringArray("enabled_types", std::move(default_types)));
  target.enabled_types.clear();
  for (const std::string& name : types) {
    Result<GoProfileType> type = ParseGoProfileType(name);
    if (!type.ok()) return type.status().WithContext(section.KeyPath("enabled_types"));
    target.enabled_types.push_back(*type);
  }
  PROFKIT_ASSIGN_OR_RETURN(target.tags, section.StringMap("tags"));
  if (target.tags.size() > kMaxGoTagFields) {
    return Status::InvalidInputf("{}: at most {} tags", section.KeyPath("tags"), kMaxGoTagFields);
  }
  for (const auto& [key, value] : target.tags) {
    if (key.size() > kMaxTagBytes) {
      return Status::InvalidInputf("{}: tag keys must have at most {} bytes",
                                   section.KeyPath("tags"), kMaxTagBytes);
    }
    PROFKIT_RETURN_IF_ERROR(CheckTag(section, "tags." + key, value));
  }
  PROFKIT_ASSIGN_OR_RETURN(target.tls_open, section.Bool("tls_open", target.tls_open));
  PROFKIT_ASSIGN_OR_RETURN(target.tls_ca, section.String("tls_ca", target.tls_ca));
  PROFKIT_ASSIGN_OR_RETURN(target.tls_cert, section.String("tls_cert", target.tls_cert));
  PROFKIT_ASSIGN_OR_RETURN(target.tls_key, section.String("tls_key", target.tls_key));
  PROFKIT_ASSIGN_OR_RETURN(target.insecure_skip_verify,
                           section.Bool("insecure_skip_verify", target.insecure_skip_verify));
  // Its messages start with the field name ("interval: ...", "tls_cert and tls_key: ...").
  PROFKIT_RETURN_IF_ERROR(config::ValidateGoTarget(target).WithContext(section.path()));
  return target;
}

}  // namespace

Result<std::vector<GoTarget>> ParseGoTargets(const TomlSection& profile) {
  PROFKIT_ASSIGN_OR_RETURN(const std::vector<TomlSection> sections, profile.TableArray("go"));
  if (sections.size() > kMaxGoTargets) {
    return Status::InvalidInputf("{}: at most {} targets", profile.KeyPath("go"), kMaxGoTargets);
  }
  std::vector<GoTarget> targets;
  for (const TomlSection& section : sections) {
    PROFKIT_ASSIGN_OR_RETURN(GoTarget target, ParseGoTarget(section));
    targets.push_back(std::move(target));
  }
  return targets;
}

}  // namespace profkit::config
