// Pure parsers for /proc/<pid>/{maps,stat,environ}: bytes in, values out, no syscalls. The text
// comes from other processes and is untrusted: every field is validated and bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "profkit/common/limits.h"
#include "profkit/common/status.h"

namespace profkit::process {

// More mappings than this is an error: real processes rarely exceed a few thousand, and the
// kernel's default vm.max_map_count is 65530.
inline constexpr size_t kMaxMappings = 65536;

struct MemoryMapping {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t file_offset = 0;
  uint64_t dev = 0;  // makedev(major, minor)
  uint64_t inode = 0;
  bool readable = false;
  bool executable = false;
  // "" for anonymous mappings; pseudo paths such as "[vdso]" and "[heap]" are kept as written.
  std::string path;
  // The file was deleted or replaced; the " (deleted)" suffix is removed from `path`.
  bool deleted = false;
};

// Errors name the 1-based line: "line 3: bad address range \"xyz\"".
Result<std::vector<MemoryMapping>> ParseProcMaps(std::string_view text);

struct ProcessStat {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  std::string comm;
  char state = '?';
  uint64_t start_time_ticks = 0;  // since boot, in clock ticks (sysconf(_SC_CLK_TCK))
};

// comm may contain ')' and spaces: it ends at the LAST ')'.
Result<ProcessStat> ParseProcStat(std::string_view text);

struct ServiceEnvironment {
  std::optional<std::string> dd_service;
  std::optional<std::string> otel_service_name;
  std::optional<std::string> dd_env;
  std::optional<std::string> dd_version;
};

// Reads ONLY DD_SERVICE, OTEL_SERVICE_NAME, DD_ENV and DD_VERSION from a NUL-separated environ
// blob (the first occurrence of each wins, as with getenv); everything else — often secrets — is
// skipped without being copied.
ServiceEnvironment ParseServiceEnvironment(std::string_view environ_blob);

struct ServiceIdentity {
  std::string service;
  std::string env;
  std::string version;
  // Whether the process named them itself (DD_SERVICE or OTEL_SERVICE_NAME, DD_ENV, DD_VERSION):
  // a pod's naming only replaces what the process left to defaults.
  bool service_from_process = false;
  bool env_from_process = false;
  bool version_from_process = false;
};

// The service when neither the environment nor the executable names one.
inline constexpr std::string_view kUnknownService = "unknown";

// service: DD_SERVICE, then OTEL_SERVICE_NAME, else executable_name (else kUnknownService);
// env: DD_ENV else default_env; version: DD_VERSION (else "").
// Values are sanitized for tag use (trimmed; at most kMaxTagBytes; ',' and control
// characters replaced by '_'); values that are empty after trimming count as unset.
ServiceIdentity ResolveServiceIdentity(const ServiceEnvironment& env,
                                       std::string_view executable_name,
                                       std::string_view default_env);

// A NUL-separated blob (/proc/PID/cmdline) as its strings; a trailing NUL ends the last one.
std::vector<std::string> SplitNulSeparated(std::string_view blob);

// The default service of a Python program from its command line: the main script's name without
// ".py" (`python3 -u /srv/app.py` → "app"; a shebang script `python3 /usr/bin/gunicorn` →
// "gunicorn"), or the module of `-m` ("-m http.server" → "http.server"). nullopt when argv[0] is
// not a python executable or there is no script (`-c`, stdin, an interactive session).
std::optional<std::string> PythonScriptName(const std::vector<std::string>& argv);

// The executable name used as default service: basename of the exe path; falls back to comm.
std::string ExecutableName(std::string_view exe_path, std::string_view comm);

}  // namespace profkit::process
