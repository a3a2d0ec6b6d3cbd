// The agent's TOML configuration as typed, validated values. conf/profkit.toml documents every key,
// its default and its allowed range. Unknown keys and tables are warnings, not errors, so a config
// written for a newer agent still starts an older one.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/config/pyroscope_config.h"
#include "profkit/config/go_target.h"
#include "profkit/config/kubernetes_config.h"

namespace profkit::config {

// Largest config file LoadConfigFile reads; a real config is a few hundred bytes.
inline constexpr size_t kMaxConfigFileBytes = 1 << 20;

struct AgentConfig {
  // "" = the machine's hostname, resolved by the agent (parsing stays free of host lookups).
  std::string hostname;
  // Base of relative state paths (the Dataway queue). "" = the config file's directory
  // (LoadConfigFile fills it in; ParseConfig leaves "" = the working directory).
  std::string data_dir;
  // Dataway election namespace: agents of one namespace elect one leader that runs pull mode.
  std::string election_namespace = "default";
  // Where the host's /proc is (a container with the host's /proc mounted elsewhere): the key,
  // else $HOST_PROC (DataKit's), else "/proc".
  std::string host_proc = "/proc";
};

struct HttpConfig {
  std::string listen = "127.0.0.1:9529";
  // Parsed from `listen`: "host:port", "[v6addr]:port" (brackets removed), ":port" = "0.0.0.0".
  std::string host = "127.0.0.1";
  uint16_t port = 9529;
};

struct DatawayConfig {
  // "" = no forwarding; otherwise http(s)://host[:port][/path][?query]. Absent or "": $ENV_DATAWAY.
  std::string url;
};

struct LocalConfig {
  // pprof files go to <dir>/<service>/<end time>.pprof; "" = off.
  std::string dir = "profiles";
};

struct EbpfConfig {
  bool enabled = true;
  int sample_rate = 99;  // Hz per CPU
  std::chrono::nanoseconds upload_interval = std::chrono::seconds(60);
  bool kernel_stacks = true;
  std::string env;  // default env tag when a process has none
  // Native unwinding with .eh_frame tables in BPF maps (README "How native stacks are unwound").
  bool native_unwinding = true;
  int unwind_table_max_mb = 32;  // BPF memory for the tables' rows, 8 bytes each
  // Off-CPU and wall-clock profiles (README "Off-CPU and wall-clock profiles").
  bool off_cpu = false;
  std::chrono::nanoseconds off_cpu_min_duration = std::chrono::milliseconds(1);
  int off_cpu_sample_every = 100;  // 1 in N context switches, weighted back
  bool off_cpu_kernel_threads = false;
  // Bytes of CPython processes' memory read per second, all together (README "Security").
  int python_read_kb_per_second = 8192;
};

// [inputs.profile.io_config]: DataKit's names and defaults.
struct ProfileIoConfig {
  // The durable Dataway queue; relative to agent.data_dir.
  std::string cache_path = "cache/profile_inputs";
  int cache_capacity_mb = 10240;
  bool clear_cache_on_start = false;
  int upload_workers = 8;
  std::chrono::nanoseconds send_timeout = std::chrono::seconds(75);
  int send_retry_count = 4;  // attempts per round before a record goes back to the queue
};

// DataKit's [[inputs.profile]] table, accepted as is (one of them).
struct ProfileInputConfig {
  // False when the config has no [[inputs.profile]]: nothing is served, io_config has defaults.
  bool enabled = false;
  std::vector<std::string> endpoints = {"/profiling/v1/input"};
  int body_size_limit_mb = 32;
  bool generate_metrics = true;
  ProfileIoConfig io;
  // [inputs.profile.tags], sorted by key; they override the clients' tags.
  std::vector<std::pair<std::string, std::string>> tags;
  // [[inputs.profile.pyroscope]]: Pyroscope listeners, forwarding through the same queue.
  std::vector<PyroscopeInputConfig> pyroscope;
  // Pull mode runs only on the agent Dataway elects (DataKit's default); without a Dataway, or
  // when false, it always runs. Push endpoints and eBPF are never elected.
  bool election = true;
  // [[inputs.profile.go]]: Go programs to pull profiles from, each validated.
  std::vector<GoTarget> go_targets;
};

// [symbols]: names for stripped native modules (README "Named native frames").
struct SymbolsConfig {
  // Space-separated http(s) URLs of debuginfod servers; nullopt (key absent) = the DEBUGINFOD_URLS
  // environment variable; "" = off.
  std::optional<std::string> debuginfod_urls;
  // Where separate debug files are found: <dir>/.build-id/xx/yyyy.debug and <dir>/<module dir>/.
  std::vector<std::string> debug_dirs = {"/usr/lib/debug"};
  std::chrono::nanoseconds debuginfod_timeout = std::chrono::seconds(30);
  // Downloaded debug files (absolute path).
  std::string cache_dir = "/var/cache/profkit/debuginfod";
  int cache_max_mb = 2048;  // downloads evicted oldest first beyond it
  // The largest ELF section read for symbols, CFI or DWARF, decompressed (README "Security").
  int max_section_mb = 512;
  // DWARF compile units indexed per file.
  int max_dwarf_units = 1 << 17;
  // Heap the open DWARF of all files may hold (symbolize::NativeSymbolizerLimits).
  int max_dwarf_memory_mb = 24;
};

struct Config {
  AgentConfig agent;
  HttpConfig http;
  DatawayConfig dataway;
  LocalConfig local;
  EbpfConfig ebpf;
  ProfileInputConfig profile;
  SymbolsConfig symbols;
  KubernetesConfig kubernetes;
  // e.g. "conf.toml: unknown key 'ebpf.sample_rat' (ignored)"
  std::vector<std::string> warnings;
};

// Errors are one line: "<source_name>: <dotted key>: <problem>", or for TOML syntax errors
// "<source_name>:<line>:<column>: <problem>".
Result<Config> ParseConfig(std::string_view toml_text, std::string_view source_name);

// Reads at most kMaxConfigFileBytes of `path`, then ParseConfig(text, path).
Result<Config> LoadConfigFile(const std::string& path);

}  // namespace profkit::config
