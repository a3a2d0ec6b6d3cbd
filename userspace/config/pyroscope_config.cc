#include "pyroscope_config.h"

#include <set>

#include "profkit/common/limits.h"
#include "profkit/config/address.h"

namespace profkit::config {
namespace {

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

Result<PyroscopeInputConfig> ParseOne(const TomlSection& section) {
  PyroscopeInputConfig input;
  PROFKIT_ASSIGN_OR_RETURN(input.url, section.String("url", input.url));
  if (input.url.empty()) {
    return Status::InvalidInputf("{}: required (the listen address, e.g. \"0.0.0.0:4040\")",
                                 section.KeyPath("url"));
  }
  Result<ListenAddress> address = ParseListenAddress(input.url);
  if (!address.ok()) return address.status().WithContext(section.KeyPath("url"));
  input.host = std::move(address->host);
  input.port = address->port;
  for (const auto& [key, value] :
       {std::pair{"service", &input.service}, std::pair{"env", &input.env},
        std::pair{"version", &input.version}}) {
    PROFKIT_ASSIGN_OR_RETURN(*value, section.String(key, *value));
    PROFKIT_RETURN_IF_ERROR(ValidateTag(*value).WithContext(section.KeyPath(key)));
  }
  PROFKIT_ASSIGN_OR_RETURN(input.tags, section.StringMap("tags"));
  for (const auto& [key, value] : input.tags) {
    if (key.empty() || key.size() > kMaxTagBytes) {
      return Status::InvalidInputf("{}: tag keys must have 1..{} bytes", section.KeyPath("tags"),
                                   kMaxTagBytes);
    }
    PROFKIT_RETURN_IF_ERROR(ValidateTag(value).WithContext(section.KeyPath("tags") + "." + key));
  }
  return input;
}

}  // namespace

Result<std::vector<PyroscopeInputConfig>> ParsePyroscopeInputs(const TomlSection& profile) {
  PROFKIT_ASSIGN_OR_RETURN(const std::vector<TomlSection> tables, profile.TableArray("pyroscope"));
  if (tables.size() > kMaxPyroscopeInputs) {
    return Status::InvalidInputf("{}: at most {} tables", profile.KeyPath("pyroscope"),
                                 kMaxPyroscopeInputs);
  }
  std::vector<PyroscopeInputConfig> inputs;
  std::set<std::pair<std::string, uint16_t>> addresses;
  for (const TomlSection& table : tables) {
    PROFKIT_ASSIGN_OR_RETURN(PyroscopeInputConfig input, ParseOne(table));
    if (!addresses.emplace(input.host, input.port).second) {
      return Status::InvalidInputf("{}: {} is already used by another pyroscope table",
                                   table.KeyPath("url"), input.url);
    }
    inputs.push_back(std::move(input));
  }
  return inputs;
}

}  // namespace profkit::config
