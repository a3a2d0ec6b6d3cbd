#include "profkit/config/config.h"

#include <toml++/toml.h>

#include <algorithm>

#include "profkit/common/file_util.h"
#include "profkit/common/limits.h"
#include "profkit/config/address.h"
#include "go_pull_config.h"
#include "pyroscope_config.h"
#include "kubernetes_config.h"
#include "toml_section.h"

namespace profkit::config {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

constexpr int kMinSampleRate = 1;
// Shorter intervals make many tiny profiles (tests use 2-5 s); longer ones delay data and grow
// the per-interval aggregation state.
constexpr std::chrono::nanoseconds kMinUploadInterval = seconds(1);
constexpr std::chrono::nanoseconds kMaxUploadInterval = hours(1);
// A DNS name is at most 253 bytes.
constexpr size_t kMaxHostnameBytes = 253;
// PATH_MAX including the terminating NUL.
constexpr size_t kMaxPathBytes = 4095;
// [[inputs.profile]] limits: a queue beyond 1 TiB or bodies beyond 1 GiB are configuration
// mistakes; a request that takes an hour is hung (kMaxUploadWorkers is in common/limits.h).
constexpr int kMinCacheCapacityMb = 1;
constexpr int kMaxCacheCapacityMb = 1 << 20;
constexpr int kMaxBodySizeLimitMb = 1024;
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

Result<AgentConfig> ParseAgent(const TomlSection& section) {
  AgentConfig agent;
  PROFKIT_ASSIGN_OR_RETURN(agent.data_dir, section.String("data_dir", agent.data_dir));
  PROFKIT_RETURN_IF_ERROR(ValidatePath(section, "data_dir", agent.data_dir));
  PROFKIT_ASSIGN_OR_RETURN(agent.hostname, section.String("hostname", agent.hostname));
  PROFKIT_RETURN_IF_ERROR(
      ValidateTagValue(agent.hostname, kMaxHostnameBytes).WithContext(section.KeyPath("hostname")));
  PROFKIT_ASSIGN_OR_RETURN(agent.election_namespace,
                           section.String("election_namespace", agent.election_namespace));
  if (agent.election_namespace.empty()) {
    return Status::InvalidInputf("{}: must not be empty", section.KeyPath("election_namespace"));
  }
  PROFKIT_RETURN_IF_ERROR(ValidateTagValue(agent.election_namespace, kMaxTagBytes)
                              .WithContext(section.KeyPath("election_namespace")));
  PROFKIT_ASSIGN_OR_RETURN(agent.host_proc, ParseHostProc(section));
  return agent;
}

Result<HttpConfig> ParseHttp(const TomlSection& section) {
  HttpConfig http;
  PROFKIT_ASSIGN_OR_RETURN(http.listen, section.String("listen", http.listen));
  Result<ListenAddress> address = ParseListenAddress(http.listen);
  if (!address.ok()) return address.status().WithContext(section.KeyPath("listen"));
  http.host = std::move(address->host);
  http.port = address->port;
  return http;
}

Result<DatawayConfig> ParseDataway(const TomlSection& section) {
  DatawayConfig dataway;
  PROFKIT_ASSIGN_OR_RETURN(dataway.url, section.String("url", dataway.url));
  if (dataway.url.empty()) dataway.url = DefaultDatawayUrl();
  if (dataway.url.empty()) return dataway;
  PROFKIT_RETURN_IF_ERROR(ValidateHttpUrl(dataway.url).WithContext(section.KeyPath("url")));
  return dataway;
}

Result<LocalConfig> ParseLocal(const TomlSection& section) {
  LocalConfig local;
  PROFKIT_ASSIGN_OR_RETURN(local.dir, section.String("dir", local.dir));
  PROFKIT_RETURN_IF_ERROR(ValidatePath(section, "dir", local.dir));
  return local;
}

// The bounds sampling::ValidateSamplerOptions enforces (config does not link sampling/): a
// minimum wait above a minute leaves nothing to see, and sampling coarser than 1 in 10,000
// switches leaves too few records for any stack to be right.
constexpr std::chrono::nanoseconds kMaxOffCpuMinDuration = std::chrono::seconds(60);
constexpr int kMaxOffCpuSampleEvery = 10'000;

Result<EbpfConfig> ParseEbpf(const TomlSection& section) {
  EbpfConfig ebpf;
  PROFKIT_ASSIGN_OR_RETURN(ebpf.enabled, section.Bool("enabled", ebpf.enabled));
  PROFKIT_ASSIGN_OR_RETURN(ebpf.sample_rate, section.Int("sample_rate", kMinSampleRate,
                                                         kMaxSampleRateHz, ebpf.sample_rate));
  PROFKIT_ASSIGN_OR_RETURN(ebpf.upload_interval,
                           section.Duration("upload_interval", kMinUploadInterval,
                                            kMaxUploadInterval, ebpf.upload_interval));
  PROFKIT_ASSIGN_OR_RETURN(ebpf.kernel_stacks, section.Bool("kernel_stacks", ebpf.kernel_stacks));
  PROFKIT_ASSIGN_OR_RETURN(ebpf.env, section.String("env", ebpf.env));
  PROFKIT_ASSIGN_OR_RETURN(ebpf.native_unwinding,
                           section.Bool("native_unwinding", ebpf.native_unwinding));
  PROFKIT_ASSIGN_OR_RETURN(ebpf.unwind_table_max_mb,
                           section.Int("unwind_table_max_mb", 1, 2048, ebpf.unwind_table_max_mb));
  PROFKIT_ASSIGN_OR_RETURN(ebpf.off_cpu, section.Bool("off_cpu", ebpf.off_cpu));
  PROFKIT_ASSIGN_OR_RETURN(ebpf.off_cpu_min_duration,
                           section.Duration("off_cpu_min_duration", std::chrono::nanoseconds(0),
                                            kMaxOffCpuMinDuration, ebpf.off_cpu_min_duration));
  PROFKIT_ASSIGN_OR_RETURN(
      ebpf.off_cpu_sample_every,
      section.Int("off_cpu_sample_every", 1, kMaxOffCpuSampleEvery, ebpf.off_cpu_sample_every));
  PROFKIT_ASSIGN_OR_RETURN(ebpf.off_cpu_kernel_threads,
                           section.Bool("off_cpu_kernel_threads", ebpf.off_cpu_kernel_threads));
  // 64 KiB/s still names a few dozen new functions a second; past 1 GiB/s it bounds nothing.
  PROFKIT_ASSIGN_OR_RETURN(
      ebpf.python_read_kb_per_second,
      section.Int("python_read_kb_per_second", 64, 1 << 20, ebpf.python_read_kb_per_second));
  PROFKIT_RETURN_IF_ERROR(
      ValidateTagValue(ebpf.env, kMaxTagBytes).WithContext(section.KeyPath("env")));
  return ebpf;
}

// Endpoints are exact paths matched by the HTTP server.
Status ValidateEndpoint(std::string_view endpoint) {
  if (endpoint.empty() || endpoint[0] != '/' || endpoint.size() > kMaxEndpointBytes) {
    return Status::InvalidInputf("\"{}\" must be a path starting with '/', at most {} bytes",
                                 endpoint, kMaxEndpointBytes);
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

Result<ProfileIoConfig> ParseProfileIo(const TomlSection& section) {
  ProfileIoConfig io;
  PROFKIT_ASSIGN_OR_RETURN(io.cache_path, section.String("cache_path", io.cache_path));
  if (io.cache_path.empty()) {
    return Status::InvalidInputf("{}: must not be empty", section.KeyPath("cache_path"));
  }
  PROFKIT_RETURN_IF_ERROR(ValidatePath(section, "cache_path", io.cache_path));
  PROFKIT_ASSIGN_OR_RETURN(io.cache_capacity_mb,
                           section.Int("cache_capacity_mb", kMinCacheCapacityMb,
                                       kMaxCacheCapacityMb, io.cache_capacity_mb));
  PROFKIT_ASSIGN_OR_RETURN(io.clear_cache_on_start,
                           section.Bool("clear_cache_on_start", io.clear_cache_on_start));
  PROFKIT_ASSIGN_OR_RETURN(io.upload_workers,
                           section.Int("upload_workers", 1, kMaxUploadWorkers, io.upload_workers));
  PROFKIT_ASSIGN_OR_RETURN(io.send_timeout, section.Duration("send_timeout", kMinSendTimeout,
                                                             kMaxSendTimeout, io.send_timeout));
  PROFKIT_ASSIGN_OR_RETURN(
      io.send_retry_count,
      section.Int("send_retry_count", 1, kMaxSendRetryCount, io.send_retry_count));
  return io;
}

Result<ProfileInputConfig> ParseProfileInput(const TomlSection& section) {
  ProfileInputConfig input;
  input.enabled = true;
  PROFKIT_ASSIGN_OR_RETURN(input.endpoints, section.StringArray("endpoints", input.endpoints));
  if (input.endpoints.size() > kMaxEndpoints) {
    return Status::InvalidInputf("{}: at most {} endpoints", section.KeyPath("endpoints"),
                                 kMaxEndpoints);
  }
  for (const std::string& endpoint : input.endpoints) {
    PROFKIT_RETURN_IF_ERROR(ValidateEndpoint(endpoint).WithContext(section.KeyPath("endpoints")));
  }
  PROFKIT_ASSIGN_OR_RETURN(
      input.body_size_limit_mb,
      section.Int("body_size_limit_mb", 1, kMaxBodySizeLimitMb, input.body_size_limit_mb));
  PROFKIT_ASSIGN_OR_RETURN(input.generate_metrics,
                           section.Bool("generate_metrics", input.generate_metrics));
  PROFKIT_ASSIGN_OR_RETURN(input.election, section.Bool("election", input.election));
  PROFKIT_ASSIGN_OR_RETURN(input.go_targets, ParseGoTargets(section));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection io, section.Table("io_config"));
  PROFKIT_ASSIGN_OR_RETURN(input.io, ParseProfileIo(io));
  PROFKIT_ASSIGN_OR_RETURN(input.tags, section.StringMap("tags"));
  for (const auto& [key, value] : input.tags) {
    if (key.empty() || key.size() > kMaxTagBytes) {
      return Status::InvalidInputf("{}: tag keys must have 1..{} bytes", section.KeyPath("tags"),
                                   kMaxTagBytes);
    }
    if (value.size() > kMaxTagBytes) {
      return Status::InvalidInputf("{}.{}: longer than {} bytes", section.KeyPath("tags"), key,
                                   kMaxTagBytes);
    }
  }
  PROFKIT_ASSIGN_OR_RETURN(input.pyroscope, ParsePyroscopeInputs(section));
  return input;
}

Result<ProfileInputConfig> ParseInputs(const TomlSection& inputs) {
  PROFKIT_ASSIGN_OR_RETURN(const std::vector<TomlSection> profiles, inputs.TableArray("profile"));
  if (profiles.empty()) return ProfileInputConfig{};
  if (profiles.size() > 1) {
    return Status::InvalidInputf("{}: only one [[inputs.profile]] table is supported, got {}",
                                 inputs.KeyPath("profile"), profiles.size());
  }
  return ParseProfileInput(profiles[0]);
}

// [symbols] bounds: a debug directory list is a handful of paths; a download that takes more than
// ten minutes is hung; a cache beyond 1 TiB is a mistake.
constexpr size_t kMaxDebugDirs = 16;
constexpr std::chrono::nanoseconds kMinDebuginfodTimeout = seconds(1);
constexpr std::chrono::nanoseconds kMaxDebuginfodTimeout = std::chrono::minutes(10);
constexpr int kMaxSymbolsCacheMb = 1 << 20;
constexpr size_t kMaxDebuginfodUrls = 8;
// A section beyond 64 GiB or more than 16 M compile units is no real program's.
constexpr int kMaxSectionMb = 64 << 10;
constexpr int kMaxDwarfUnits = 1 << 24;
constexpr int kMaxDwarfMemoryMb = 64 << 10;

Result<SymbolsConfig> ParseSymbols(const TomlSection& section) {
  SymbolsConfig symbols;
  PROFKIT_ASSIGN_OR_RETURN(symbols.debuginfod_urls, section.OptionalString("debuginfod_urls"));
  if (symbols.debuginfod_urls) {
    size_t count = 0;
    std::string_view rest = *symbols.debuginfod_urls;
    while (!rest.empty()) {
      const size_t start = rest.find_first_not_of(' ');
      if (start == std::string_view::npos) break;
      rest.remove_prefix(start);
      const std::string_view url = rest.substr(0, rest.find(' '));
      rest.remove_prefix(url.size());
      if (++count > kMaxDebuginfodUrls) {
        return Status::InvalidInputf("{}: more than {} URLs", section.KeyPath("debuginfod_urls"),
                                     kMaxDebuginfodUrls);
      }
      PROFKIT_RETURN_IF_ERROR(ValidateHttpUrl(url).WithContext(section.KeyPath("debuginfod_urls")));
    }
  }
  PROFKIT_ASSIGN_OR_RETURN(symbols.debug_dirs,
                           section.StringArray("debug_dirs", symbols.debug_dirs));
  if (symbols.debug_dirs.size() > kMaxDebugDirs) {
    return Status::InvalidInputf("{}: more than {} directories", section.KeyPath("debug_dirs"),
                                 kMaxDebugDirs);
  }
  for (const std::string& dir : symbols.debug_dirs) {
    PROFKIT_RETURN_IF_ERROR(ValidatePath(section, "debug_dirs", dir));
    if (!dir.starts_with('/')) {
      return Status::InvalidInputf("{}: \"{}\" is not an absolute path",
                                   section.KeyPath("debug_dirs"), dir);
    }
  }
  PROFKIT_ASSIGN_OR_RETURN(symbols.debuginfod_timeout,
                           section.Duration("debuginfod_timeout", kMinDebuginfodTimeout,
                                            kMaxDebuginfodTimeout, symbols.debuginfod_timeout));
  PROFKIT_ASSIGN_OR_RETURN(symbols.cache_dir, section.String("cache_dir", symbols.cache_dir));
  PROFKIT_RETURN_IF_ERROR(ValidatePath(section, "cache_dir", symbols.cache_dir));
  if (!symbols.cache_dir.starts_with('/')) {
    return Status::InvalidInputf("{}: \"{}\" is not an absolute path", section.KeyPath("cache_dir"),
                                 symbols.cache_dir);
  }
  PROFKIT_ASSIGN_OR_RETURN(symbols.cache_max_mb, section.Int("cache_max_mb", 1, kMaxSymbolsCacheMb,
                                                             symbols.cache_max_mb));
  PROFKIT_ASSIGN_OR_RETURN(symbols.max_section_mb,
                           section.Int("max_section_mb", 1, kMaxSectionMb, symbols.max_section_mb));
  PROFKIT_ASSIGN_OR_RETURN(
      symbols.max_dwarf_units,
      section.Int("max_dwarf_units", 1, kMaxDwarfUnits, symbols.max_dwarf_units));
  PROFKIT_ASSIGN_OR_RETURN(
      symbols.max_dwarf_memory_mb,
      section.Int("max_dwarf_memory_mb", 1, kMaxDwarfMemoryMb, symbols.max_dwarf_memory_mb));
  return symbols;
}

// Each [table] is read by one function; a new table is one more line here.
Result<Config> ParseTables(const TomlSection& root) {
  Config config;
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection agent, root.Table("agent"));
  PROFKIT_ASSIGN_OR_RETURN(config.agent, ParseAgent(agent));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection http, root.Table("http"));
  PROFKIT_ASSIGN_OR_RETURN(config.http, ParseHttp(http));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection dataway, root.Table("dataway"));
  PROFKIT_ASSIGN_OR_RETURN(config.dataway, ParseDataway(dataway));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection local, root.Table("local"));
  PROFKIT_ASSIGN_OR_RETURN(config.local, ParseLocal(local));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection ebpf, root.Table("ebpf"));
  PROFKIT_ASSIGN_OR_RETURN(config.ebpf, ParseEbpf(ebpf));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection inputs, root.Table("inputs"));
  PROFKIT_ASSIGN_OR_RETURN(config.profile, ParseInputs(inputs));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection symbols, root.Table("symbols"));
  PROFKIT_ASSIGN_OR_RETURN(config.symbols, ParseSymbols(symbols));
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection kubernetes, root.Table("kubernetes"));
  PROFKIT_ASSIGN_OR_RETURN(config.kubernetes, ParseKubernetes(kubernetes));
  return config;
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
  VisitedNodes visited;
  const TomlSection top(&root, "", &visited);
  PROFKIT_ASSIGN_OR_RETURN(Config config, ParseTables(top).WithContext(source_name));
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
    config.agent.data_dir =
        slash == std::string::npos ? "." : path.substr(0, std::max<size_t>(slash, 1));
  }
  return config;
}

}  // namespace profkit::config
