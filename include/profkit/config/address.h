// Validation of the network addresses in the config: the HTTP listen address and the Dataway URL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "profkit/common/status.h"

namespace profkit::config {

struct ListenAddress {
  std::string host;  // hostname, IPv4 or IPv6 literal (without brackets)
  uint16_t port = 0;
};

// "host:port", "[v6addr]:port" or ":port" (all IPv4 interfaces, host "0.0.0.0"); port 1..65535.
Result<ListenAddress> ParseListenAddress(std::string_view text);

// Longest Dataway URL accepted; tokens make URLs long but never this long.
inline constexpr size_t kMaxUrlBytes = 4096;

// Accepts http(s)://host[:port][/path][?query] as libcurl (which uploads) parses it; user info,
// fragments, other schemes and spaces are errors.
Status ValidateHttpUrl(std::string_view url);

}  // namespace profkit::config
