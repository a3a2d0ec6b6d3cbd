#include "profkit/config/go_target.h"
#include "profkit/common/quoted.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <array>

namespace profkit::config {
namespace {

struct TypeName {
  GoProfileType type;
  std::string_view name;
};
constexpr std::array<TypeName, 6> kTypeNames = {{{GoProfileType::kCpu, "cpu"},
                                                 {GoProfileType::kHeap, "heap"},
                                                 {GoProfileType::kGoroutine, "goroutine"},
                                                 {GoProfileType::kMutex, "mutex"},
                                                 {GoProfileType::kBlock, "block"},
                                                 {GoProfileType::kAllocs, "allocs"}}};

Status CheckReadableFile(std::string_view field, const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    return Status::FromErrno(fmt::format("{}: {}", field, path), errno);
  if (!S_ISREG(st.st_mode))
    return Status::InvalidInputf("{}: {} is not a regular file", field, path);
  return Status::Ok();
}

}  // namespace

Result<GoProfileType> ParseGoProfileType(std::string_view name) {
  for (const auto& entry : kTypeNames) {
    if (entry.name == name) return entry.type;
  }
  return Status::InvalidInputf(
      "invalid profile type {} (expected cpu, heap, goroutine, mutex, block or "
      "allocs)",
      Quoted(name));
}

std::string_view GoProfileTypeName(GoProfileType type) {
  for (const auto& entry : kTypeNames) {
    if (entry.type == type) return entry.name;
  }
  return "unknown";
}

Result<std::string> GoTargetBaseUrl(const GoTarget& target) {
  std::string_view url = target.url;
  std::string scheme;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return Status::InvalidInputf("url {}: expected http://host:port or https://host:port",
                                 Quoted(target.url));
  }
  scheme = std::string(url.substr(0, scheme_end));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "http" && scheme != "https") {
    return Status::InvalidInputf("url {}: scheme must be http or https", Quoted(target.url));
  }
  if (target.tls_open) scheme = "https";
  std::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  // User info would be a credential in logs; the pprof endpoints have no authentication anyway.
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  if (authority.empty()) return Status::InvalidInputf("url {}: no host", Quoted(target.url));
  if (authority.find_first_of(" \t\r\n\\") != std::string_view::npos) {
    return Status::InvalidInputf("url {}: invalid host", Quoted(target.url));
  }
  return scheme + "://" + std::string(authority);
}

Status ValidateGoTarget(const GoTarget& target) {
  PROFKIT_RETURN_IF_ERROR(GoTargetBaseUrl(target).status());
  if (target.interval < kMinPullInterval) {
    return Status::InvalidInputf("interval: {}s is below the minimum {}s", target.interval.count(),
                                 kMinPullInterval.count());
  }
  if (target.enabled_types.empty())
    return Status::InvalidInput("enabled_types: empty, nothing to pull");
  std::vector<GoProfileType> sorted = target.enabled_types;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return Status::InvalidInput("enabled_types: a type is listed twice");
  }
  for (const auto& [key, value] : target.tags) {
    if (key.empty()) return Status::InvalidInput("tags: empty key");
  }
  if (target.tls_cert.empty() != target.tls_key.empty()) {
    return Status::InvalidInput("tls_cert and tls_key: set both or neither");
  }
  if (!target.tls_ca.empty()) PROFKIT_RETURN_IF_ERROR(CheckReadableFile("tls_ca", target.tls_ca));
  if (!target.tls_cert.empty()) {
    PROFKIT_RETURN_IF_ERROR(CheckReadableFile("tls_cert", target.tls_cert));
    PROFKIT_RETURN_IF_ERROR(CheckReadableFile("tls_key", target.tls_key));
  }
  return Status::Ok();
}

}  // namespace profkit::config
