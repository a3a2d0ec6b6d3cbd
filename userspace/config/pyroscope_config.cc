#include "pyroscope_config.h"

#include <set>

#include "profkit/config/address.h"

namespace profkit::config {
namespace {

// As the other tag values of the config: they end up in tags_profiler, which has no escaping.
constexpr size_t kMaxTagBytes = 200;

Status ValidateTag(std::string_view value) {
  if (value.size() > kMaxTagBytes) {
    return Status::InvalidInputf("longer than {} bytes ({} bytes)", kMaxTagBytes, value.size());
  }
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == ',') {
      return Status::InvalidInputf("\"{}\" contains ',' or a control character", value);
    }
  }
  return Status::Ok();
}

Status ParseOne(const TomlSection& section, PyroscopeInputConfig* out) {
  PROFKIT_RETURN_IF_ERROR(section.String("url", &out->url));
  if (out->url.empty()) {
    return Status::InvalidInputf("{}: required (the listen address, e.g. \"0.0.0.0:4040\")",
                          section.KeyPath("url"));
  }
  Result<ListenAddress> address = ParseListenAddress(out->url);
  if (!address.ok()) return address.status().WithContext(section.KeyPath("url"));
  out->host = std::move(address->host);
  out->port = address->port;
  for (const auto& [key, value] : {std::pair{"service", &out->service},
                                   std::pair{"env", &out->env}, std::pair{"version", &out->version}}) {
    PROFKIT_RETURN_IF_ERROR(section.String(key, value));
    PROFKIT_RETURN_IF_ERROR(ValidateTag(*value).WithContext(section.KeyPath(key)));
  }
  PROFKIT_RETURN_IF_ERROR(section.StringMap("tags", &out->tags));
  for (const auto& [key, value] : out->tags) {
    if (key.empty() || key.size() > kMaxTagBytes) {
      return Status::InvalidInputf("{}: tag keys must have 1..{} bytes", section.KeyPath("tags"),
                            kMaxTagBytes);
    }
    PROFKIT_RETURN_IF_ERROR(ValidateTag(value).WithContext(section.KeyPath("tags") + "." + key));
  }
  return Status::Ok();
}

}  // namespace

Status ParsePyroscopeInputs(const TomlSection& profile, std::vector<PyroscopeInputConfig>* out) {
  PROFKIT_ASSIGN_OR_RETURN(const std::vector<TomlSection> tables, profile.TableArray("pyroscope"));
  if (tables.size() > kMaxPyroscopeInputs) {
    return Status::InvalidInputf("{}: at most {} tables", profile.KeyPath("pyroscope"),
                          kMaxPyroscopeInputs);
  }
  out->clear();
  std::set<std::pair<std::string, uint16_t>> addresses;
  for (const TomlSection& table : tables) {
    PyroscopeInputConfig input;
    PROFKIT_RETURN_IF_ERROR(ParseOne(table, &input));
    if (!addresses.emplace(input.host, input.port).second) {
      return Status::InvalidInputf("{}: {} is already used by another pyroscope table",
                            table.KeyPath("url"), input.url);
    }
    out->push_back(std::move(input));
  }
  return Status::Ok();
}

}  // namespace profkit::config
