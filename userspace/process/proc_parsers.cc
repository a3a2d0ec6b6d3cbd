#include "profkit/process/proc_parsers.h"

#include <sys/sysmacros.h>

#include <array>
#include <charconv>

#include "profkit/common/file_util.h"

namespace profkit::process {
namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";
// Environment values are copied up to this size; SanitizeTagValue cuts them further once
// trimmed, so a huge variable costs no more than this.
constexpr size_t kMaxEnvValueBytes = 1024;

template <typename T>
bool ParseNumber(std::string_view text, int base, T* out) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out, base);
  return error == std::errc() && end == text.data() + text.size();
}

// Splits off the next space-delimited field of `rest`, skipping leading spaces.
std::string_view NextField(std::string_view* rest) {
  const size_t start = rest->find_first_not_of(' ');
  if (start == std::string_view::npos) {
    *rest = {};
    return {};
  }
  rest->remove_prefix(start);
  const size_t end = rest->find(' ');
  const std::string_view field = rest->substr(0, end);
  rest->remove_prefix(end == std::string_view::npos ? rest->size() : end);
  return field;
}

// One maps line: "start-end perms offset major:minor inode [path]".
Result<MemoryMapping> ParseMapsLine(std::string_view line) {
  MemoryMapping m;
  std::string_view rest = line;
  const std::string_view range = NextField(&rest);
  const size_t dash = range.find('-');
  if (dash == std::string_view::npos || !ParseNumber(range.substr(0, dash), 16, &m.start) ||
      !ParseNumber(range.substr(dash + 1), 16, &m.end) || m.start >= m.end) {
    return Status::InvalidInputf("bad address range \"{}\"", range);
  }
  const std::string_view perms = NextField(&rest);
  if (perms.size() != 4 || (perms[0] != 'r' && perms[0] != '-') ||
      (perms[1] != 'w' && perms[1] != '-') || (perms[2] != 'x' && perms[2] != '-') ||
      (perms[3] != 'p' && perms[3] != 's')) {
    return Status::InvalidInputf("bad permissions \"{}\"", perms);
  }
  m.readable = perms[0] == 'r';
  m.executable = perms[2] == 'x';
  const std::string_view offset = NextField(&rest);
  if (!ParseNumber(offset, 16, &m.file_offset))
    return Status::InvalidInputf("bad offset \"{}\"", offset);
  const std::string_view dev = NextField(&rest);
  const size_t colon = dev.find(':');
  unsigned major = 0;
  unsigned minor = 0;
  if (colon == std::string_view::npos || !ParseNumber(dev.substr(0, colon), 16, &major) ||
      !ParseNumber(dev.substr(colon + 1), 16, &minor)) {
    return Status::InvalidInputf("bad device \"{}\"", dev);
  }
  m.dev = makedev(major, minor);
  const std::string_view inode = NextField(&rest);
  if (!ParseNumber(inode, 10, &m.inode)) return Status::InvalidInputf("bad inode \"{}\"", inode);
  // The path is the rest of the line after the padding, spaces inside it included.
  const size_t path_start = rest.find_first_not_of(' ');
  std::string_view path = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  if (path.ends_with(kDeletedSuffix)) {
    path.remove_suffix(kDeletedSuffix.size());
    m.deleted = true;
  }
  m.path = std::string(path);
  return m;
}

bool IsTagSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Trimmed, cut to kMaxTagBytes at a UTF-8 character boundary, ',' and control characters
// replaced by '_'.
std::string SanitizeTagValue(std::string_view value) {
  while (!value.empty() && IsTagSpace(value.front())) value.remove_prefix(1);
  while (!value.empty() && IsTagSpace(value.back())) value.remove_suffix(1);
  if (value.size() > kMaxTagBytes) {
    size_t cut = kMaxTagBytes;
    // Back up over continuation bytes (10xxxxxx) so no character is split.
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
    value = value.substr(0, cut);
  }
  std::string out(value);
  for (char& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == ',') c = '_';
  }
  return out;
}

// A script's service: its file name without ".py", sanitized; none when nothing is left.
std::optional<std::string> ScriptService(std::string_view script) {
  std::string_view name = PathBasename(script);
  if (name.ends_with(".py")) name.remove_suffix(3);
  std::string service = SanitizeTagValue(name);
  if (service.empty()) return std::nullopt;
  return service;
}

// The first sanitized non-empty value among `candidates`, or "".
std::string FirstSet(std::initializer_list<const std::optional<std::string>*> candidates) {
  for (const std::optional<std::string>* candidate : candidates) {
    if (!candidate->has_value()) continue;
    std::string value = SanitizeTagValue(**candidate);
    if (!value.empty()) return value;
  }
  return "";
}

}  // namespace

Result<std::vector<MemoryMapping>> ParseProcMaps(std::string_view text) {
  std::vector<MemoryMapping> mappings;
  size_t line_number = 0;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;
    if (mappings.size() == kMaxMappings) {
      return Status::TooLargef("more than {} mappings", kMaxMappings);
    }
    Result<MemoryMapping> mapping = ParseMapsLine(line);
    if (!mapping.ok()) return mapping.status().WithContext(fmt::format("line {}", line_number));
    mappings.push_back(std::move(mapping).value());
  }
  return mappings;
}

Result<ProcessStat> ParseProcStat(std::string_view text) {
  ProcessStat stat;
  const size_t open = text.find(" (");
  const size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open + 2) {
    return Status::InvalidInput("expected \"pid (comm) state ...\"");
  }
  if (!ParseNumber(text.substr(0, open), 10, &stat.pid)) {
    return Status::InvalidInputf("bad pid \"{}\"", text.substr(0, open));
  }
  stat.comm = std::string(text.substr(open + 2, close - open - 2));
  // Fields after comm, numbered as in proc(5): state is field 3, ppid 4, starttime 22.
  constexpr size_t kFirstField = 3;
  constexpr size_t kPpidField = 4;
  constexpr size_t kStartTimeField = 22;
  std::array<std::string_view, kStartTimeField - kFirstField + 1> fields;
  std::string_view rest = text.substr(close + 1);
  while (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
  for (size_t i = 0; i < fields.size(); ++i) {
    fields[i] = NextField(&rest);
    if (fields[i].empty()) {
      return Status::InvalidInputf("only {} fields, expected at least {}", kFirstField - 1 + i,
                                   kStartTimeField);
    }
  }
  if (fields[0].size() != 1) return Status::InvalidInputf("bad state \"{}\"", fields[0]);
  stat.state = fields[0][0];
  const std::string_view ppid = fields[kPpidField - kFirstField];
  if (!ParseNumber(ppid, 10, &stat.ppid)) return Status::InvalidInputf("bad ppid \"{}\"", ppid);
  const std::string_view start_time = fields[kStartTimeField - kFirstField];
  if (!ParseNumber(start_time, 10, &stat.start_time_ticks)) {
    return Status::InvalidInputf("bad starttime \"{}\"", start_time);
  }
  return stat;
}

ServiceEnvironment ParseServiceEnvironment(std::string_view environ_blob) {
  ServiceEnvironment env;
  const std::array<std::pair<std::string_view, std::optional<std::string>*>, 4> wanted = {{
      {"DD_SERVICE=", &env.dd_service},
      {"OTEL_SERVICE_NAME=", &env.otel_service_name},
      {"DD_ENV=", &env.dd_env},
      {"DD_VERSION=", &env.dd_version},
  }};
  while (!environ_blob.empty()) {
    const size_t nul = environ_blob.find('\0');
    const std::string_view entry = environ_blob.substr(0, nul);
    environ_blob.remove_prefix(nul == std::string_view::npos ? environ_blob.size() : nul + 1);
    for (const auto& [prefix, slot] : wanted) {
      if (!slot->has_value() && entry.starts_with(prefix)) {
        *slot = std::string(entry.substr(prefix.size(), kMaxEnvValueBytes));
      }
    }
  }
  return env;
}

ServiceIdentity ResolveServiceIdentity(const ServiceEnvironment& env,
                                       std::string_view executable_name,
                                       std::string_view default_env) {
  const std::optional<std::string> exe(executable_name);
  const std::optional<std::string> fallback_env(default_env);
  ServiceIdentity identity;
  identity.service = FirstSet({&env.dd_service, &env.otel_service_name, &exe});
  if (identity.service.empty()) identity.service = kUnknownService;
  identity.env = FirstSet({&env.dd_env, &fallback_env});
  identity.version = FirstSet({&env.dd_version});
  identity.service_from_process = !FirstSet({&env.dd_service, &env.otel_service_name}).empty();
  identity.env_from_process = !FirstSet({&env.dd_env}).empty();
  identity.version_from_process = !identity.version.empty();
  return identity;
}

std::vector<std::string> SplitNulSeparated(std::string_view blob) {
  std::vector<std::string> parts;
  while (!blob.empty()) {
    const size_t nul = blob.find('\0');
    parts.emplace_back(blob.substr(0, nul));
    if (nul == std::string_view::npos) break;
    blob.remove_prefix(nul + 1);
  }
  return parts;
}

std::optional<std::string> PythonScriptName(const std::vector<std::string>& argv) {
  if (argv.empty()) return std::nullopt;
  const std::string_view interpreter = PathBasename(argv[0]);
  if (!interpreter.starts_with("python")) return std::nullopt;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") {
      if (i + 1 < argv.size()) return ScriptService(argv[i + 1]);
      return std::nullopt;
    }
    if (arg.empty() || arg == "-") return std::nullopt;
    if (arg.front() != '-') return ScriptService(arg);
    if (arg.starts_with("--")) {
      // The one long option that takes a separate value (3.7+); the others take none.
      if (arg == "--check-hash-based-pycs") ++i;
      continue;
    }
    // Single-dash options may be bundled ("-uB"); c, m, W and X take the rest or the next argument.
    for (size_t k = 1; k < arg.size(); ++k) {
      const char option = arg[k];
      if (option != 'c' && option != 'm' && option != 'W' && option != 'X') continue;
      std::string_view value = arg.substr(k + 1);
      if (value.empty()) {
        if (i + 1 >= argv.size()) return std::nullopt;
        value = argv[++i];
      }
      if (option == 'c') return std::nullopt;
      if (option == 'm') {
        std::string module = SanitizeTagValue(value);
        if (module.empty()) return std::nullopt;
        return module;
      }
      break;  // -W/-X value consumed
    }
  }
  return std::nullopt;
}

std::string ExecutableName(std::string_view exe_path, std::string_view comm) {
  const std::string_view base = PathBasename(exe_path);
  return std::string(base.empty() ? comm : base);
}

}  // namespace profkit::process
