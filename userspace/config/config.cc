#include "profkit/config/config.h"

#include <toml++/toml.h>

#include <algorithm>

#include "profkit/common/file_util.h"
#include "profkit/config/address.h"
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

// Tag values end up in pprof labels and line protocol: no separators, no control characters.
Status ValidateTagValue(std::string_view value, size_t max_bytes) {
  if (value.size() > max_bytes) {
    return Status::Errorf("longer than {} bytes ({} bytes)", max_bytes, value.size());
  }
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f || c == ',') {
      return Status::Errorf("\"{}\" contains a space, ',' or a control character", value);
    }
  }
  return Status::Ok();
}

Status ParseAgent(const TomlSection& section, AgentConfig* out) {
  PROFKIT_RETURN_IF_ERROR(section.String("hostname", &out->hostname));
  return ValidateTagValue(out->hostname, kMaxHostnameBytes)
      .WithContext(section.KeyPath("hostname"));
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
  if (out->dir.size() > kMaxPathBytes) {
    return Status::Errorf("{}: longer than {} bytes", section.KeyPath("dir"), kMaxPathBytes);
  }
  if (out->dir.find('\0') != std::string::npos) {
    return Status::Errorf("{}: contains a NUL character", section.KeyPath("dir"));
  }
  return Status::Ok();
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
  return ParseEbpf(ebpf, &config->ebpf);
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
    return Status::Errorf("{}:{}:{}: {}", source_name, error.source().begin.line,
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
  return ParseConfig(text, path);
}

}  // namespace profkit::config
