#include "profkit/config/config.h"

#include <toml++/toml.h>

#include <algorithm>

#include "profkit/common/file_util.h"
#include "profkit/config/address.h"
#include "go_pull_config.h"
#include "pyroscope_config.h"
#include "toml_section.h"

namespace profkit::config {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

// Above 1000 Hz per CPU the BPF program's own cost dominates what it measures.
constexpr int kMinSampleRate = 1;
constexpr int kMaxSampleRate = 1000;
// Shorter intervals make many tiny profiles (tests use 2-5 s); longer ones delay data and grow
// the per-interval aggregation state.
constexpr std::chrono::nanoseconds kMinUploadInterval = seconds(1);
constexpr std::chrono::nanoseconds kMaxUploadInterval = hours(1);
// A DNS name is at most 253 bytes.
constexpr size_t kMaxHostnameBytes = 253;
// Tag values (hostname, env) are bounded like the ones read from processes' environments.
constexpr size_t kMaxTagBytes = 200;
// PATH_MAX including the terminating NUL.
constexpr size_t kMaxPathBytes = 4095;
// [[inputs.profile]] limits: a queue beyond 1 TiB or bodies beyond 1 GiB are configuration
// mistakes; more senders than this only open more connections to one Dataway; a request that
// takes an hour is hung.
constexpr int kMinCacheCapacityMb = 1;
constexpr int kMaxCacheCapacityMb = 1 << 20;
constexpr int kMaxBodySizeLimitMb = 1024;
constexpr int kMaxUploadWorkers = 256;
constexpr int kMaxSendRetryCount = 100;
constexpr std::chrono::nanoseconds kMinSendTimeout = std::chrono::seconds(1);
constexpr std::chrono::nanoseconds kMaxSendTimeout = hours(1);
constexpr size_t kMaxEndpoints = 16;
constexpr size_t kMaxEndpointBytes = 256;

// Tag values end up in pprof labels and line protocol: no separators, no control characters.
Status ValidateTagValue(std::string_view value, size_t max_bytes) {
  if (value.size() > max_bytes) {
    return Status::InvalidInputf("longer than {} bytes ({} bytes)", max_bytes, value.size());
  }
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f || c == ',') {
      return Status::InvalidInputf("\"{}\" contains a space, ',' or a control character", value);
    }
  }
  return Status::Ok();
}

Status ValidatePath(const TomlSection& section, std::string_view key, const std::string& path) {
  if (path.size() > kMaxPathBytes) {
    return Status::InvalidInputf("{}: longer than {} bytes", section.KeyPath(key), kMaxPathBytes);
  }
  if (path.find('\0') != std::string::npos) {
    return Status::InvalidInputf("{}: contains a NUL character", section.KeyPath(key));
  }
  return Status::Ok();
}

Status ParseAgent(const TomlSection& section, AgentConfig* out) {
  PROFKIT_RETURN_IF_ERROR(section.String("data_dir", &out->data_dir));
  PROFKIT_RETURN_IF_ERROR(ValidatePath(section, "data_dir", out->data_dir));
  PROFKIT_RETURN_IF_ERROR(section.String("hostname", &out->hostname));
  PROFKIT_RETURN_IF_ERROR(ValidateTagValue(out->hostname, kMaxHostnameBytes)
                              .WithContext(section.KeyPath("hostname")));
  PROFKIT_RETURN_IF_ERROR(section.String("election_namespace", &out->election_namespace));
  if (out->election_namespace.empty()) {
    return Status::InvalidInputf("{}: must not be empty", section.KeyPath("election_namespace"));
  }
  return ValidateTagValue(out->election_namespace, kMaxTagBytes)
      .WithContext(section.KeyPath("election_namespace"));
}

Status ParseHttp(const TomlSection& section, HttpConfig* out) {
  PROFKIT_RETURN_IF_ERROR(section.String("listen", &out->listen));
  Result<ListenAddress> address = ParseListenAddress(out->listen);
  if (!address.ok()) return address.status().WithContext(section.KeyPath("listen"));
  out->host = std::move(address->host);
  out->port = address->port;
  return Status::Ok();
}

Status ParseDataway(const TomlSection& section, DatawayConfig* out) {
  PROFKIT_RETURN_IF_ERROR(section.String("url", &out->url));
  if (out->url.empty()) return Status::Ok();
  return ValidateHttpUrl(out->url).WithContext(section.KeyPath("url"));
}

Status ParseLocal(const TomlSection& section, LocalConfig* out) {
  PROFKIT_RETURN_IF_ERROR(section.String("dir", &out->dir));
  return ValidatePath(section, "dir", out->dir);
}

Status ParseEbpf(const TomlSection& section, EbpfConfig* out) {
  PROFKIT_RETURN_IF_ERROR(section.Bool("enabled", &out->enabled));
  PROFKIT_RETURN_IF_ERROR(
      section.Int("sample_rate", kMinSampleRate, kMaxSampleRate, &out->sample_rate));
  PROFKIT_RETURN_IF_ERROR(section.Duration("upload_interval", kMinUploadInterval,
                                           kMaxUploadInterval, &out->upload_interval));
  PROFKIT_RETURN_IF_ERROR(section.Bool("kernel_stacks", &out->kernel_stacks));
  PROFKIT_RETURN_IF_ERROR(section.String("env", &out->env));
  return ValidateTagValue(out->env, kMaxTagBytes).WithContext(section.KeyPath("env"));
}

// Endpoints are exact paths matched by the HTTP server.
Status ValidateEndpoint(std::string_view endpoint) {
  if (endpoint.empty() || endpoint[0] != '/' || endpoint.size() > kMaxEndpointBytes) {
    return Status::InvalidInputf("\"{}\" must be a path starting with '/', at most {} bytes", endpoint,
                          kMaxEndpointBytes);
  }
  for (const char c : endpoint) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f || c == '?' || c == '#') {
      return Status::InvalidInputf("\"{}\" contains a space, '?', '#' or a non-printable character",
                            endpoint);
    }
  }
  return Status::Ok();
}

Status ParseProfileIo(const TomlSection& section, ProfileIoConfig* out) {
  PROFKIT_RETURN_IF_ERROR(section.String("cache_path", &out->cache_path));
  if (out->cache_path.empty()) {
    return Status::InvalidInputf("{}: must not be empty", section.KeyPath("cache_path"));
  }
  PROFKIT_RETURN_IF_ERROR(ValidatePath(section, "cache_path", out->cache_path));
  PROFKIT_RETURN_IF_ERROR(section.Int("cache_capacity_mb", kMinCacheCapacityMb,
                                      kMaxCacheCapacityMb, &out->cache_capacity_mb));
  PROFKIT_RETURN_IF_ERROR(section.Bool("clear_cache_on_start", &out->clear_cache_on_start));
  PROFKIT_RETURN_IF_ERROR(
      section.Int("upload_workers", 1, kMaxUploadWorkers, &out->upload_workers));
  PROFKIT_RETURN_IF_ERROR(
      section.Duration("send_timeout", kMinSendTimeout, kMaxSendTimeout, &out->send_timeout));
  return section.Int("send_retry_count", 1, kMaxSendRetryCount, &out->send_retry_count);
}

Status ParseProfileInput(const TomlSection& section, ProfileInputConfig* out) {
  out->enabled = true;
  PROFKIT_RETURN_IF_ERROR(section.StringArray("endpoints", &out->endpoints));
  if (out->endpoints.size() > kMaxEndpoints) {
    return Status::InvalidInputf("{}: at most {} endpoints", section.KeyPath("endpoints"), kMaxEndpoints);
  }
  for (const std::string& endpoint : out->endpoints) {
    PROFKIT_RETURN_IF_ERROR(ValidateEndpoint(endpoint).WithContext(section.KeyPath("endpoints")));
  }
  PROFKIT_RETURN_IF_ERROR(section.Int("body_size_limit_mb", 1, kMaxBodySizeLimitMb,
                                      &out->body_size_limit_mb));
  PROFKIT_RETURN_IF_ERROR(section.Bool("generate_metrics", &out->generate_metrics));
  PROFKIT_RETURN_IF_ERROR(section.Bool("election", &out->election));
  PROFKIT_RETURN_IF_ERROR(ParseGoTargets(section, &out->go_targets));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection io, section.Table("io_config"));
  PROFKIT_RETURN_IF_ERROR(ParseProfileIo(io, &out->io));
  PROFKIT_RETURN_IF_ERROR(section.StringMap("tags", &out->tags));
  for (const auto& [key, value] : out->tags) {
    if (key.empty() || key.size() > kMaxTagBytes) {
      return Status::InvalidInputf("{}: tag keys must have 1..{} bytes", section.KeyPath("tags"),
                            kMaxTagBytes);
    }
    if (value.size() > kMaxTagBytes) {
      return Status::InvalidInputf("{}.{}: longer than {} bytes", section.KeyPath("tags"), key,
                            kMaxTagBytes);
    }
  }
  return ParsePyroscopeInputs(section, &out->pyroscope);
}

Status ParseInputs(const TomlSection& inputs, ProfileInputConfig* out) {
  PROFKIT_ASSIGN_OR_RETURN(const std::vector<TomlSection> profiles, inputs.TableArray("profile"));
  if (profiles.empty()) return Status::Ok();
  if (profiles.size() > 1) {
    return Status::InvalidInputf("{}: only one [[inputs.profile]] table is supported, got {}",
                          inputs.KeyPath("profile"), profiles.size());
  }
  return ParseProfileInput(profiles[0], out);
}

// Each [table] is read by one function; a new table is one more line here.
Status ParseTables(const TomlSection& root, Config* config) {
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection agent, root.Table("agent"));
  PROFKIT_RETURN_IF_ERROR(ParseAgent(agent, &config->agent));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection http, root.Table("http"));
  PROFKIT_RETURN_IF_ERROR(ParseHttp(http, &config->http));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection dataway, root.Table("dataway"));
  PROFKIT_RETURN_IF_ERROR(ParseDataway(dataway, &config->dataway));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection local, root.Table("local"));
  PROFKIT_RETURN_IF_ERROR(ParseLocal(local, &config->local));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection ebpf, root.Table("ebpf"));
  PROFKIT_RETURN_IF_ERROR(ParseEbpf(ebpf, &config->ebpf));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection inputs, root.Table("inputs"));
  return ParseInputs(inputs, &config->profile);
}

// toml++ descriptions are single sentences, but keep the promise of one line regardless.
std::string OneLine(std::string_view text) {
  std::string line(text);
  std::replace(line.begin(), line.end(), '\n', ' ');
  return line;
}

}  // namespace

Result<Config> ParseConfig(std::string_view toml_text, std::string_view source_name) {
  toml::table root;
  // toml++ reports syntax errors by exception; they stop here, at the config-load boundary.
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& error) {
    return Status::InvalidInputf("{}:{}:{}: {}", source_name, error.source().begin.line,
                          error.source().begin.column, OneLine(error.description()));
  }
  Config config;
  VisitedNodes visited;
  const TomlSection top(&root, "", &visited);
  PROFKIT_RETURN_IF_ERROR(ParseTables(top, &config).WithContext(source_name));
  for (const std::string& unknown : UnknownKeys(root, visited)) {
    config.warnings.push_back(fmt::format("{}: {} (ignored)", source_name, unknown));
  }
  return config;
}

Result<Config> LoadConfigFile(const std::string& path) {
  PROFKIT_ASSIGN_OR_RETURN(const std::string text, ReadFileBounded(path, kMaxConfigFileBytes));
  PROFKIT_ASSIGN_OR_RETURN(Config config, ParseConfig(text, path));
  if (config.agent.data_dir.empty()) {
    const size_t slash = path.rfind('/');
    config.agent.data_dir = slash == std::string::npos ? "." : path.substr(0, std::max<size_t>(slash, 1));
  }
  return config;
}

}  // namespace profkit::config
