// Dataway URLs carry the workspace token in their query: build upload URLs from the configured
// one, and never log them unredacted.
#pragma once

#include <string>
#include <string_view>

#include "profkit/common/status.h"

namespace profkit::forward {

// Dataway's profile upload endpoint.
inline constexpr std::string_view kDatawayUploadPath = "/v1/upload/profiling";
// Dataway's line-protocol endpoint for metrics (profiling_metrics).
inline constexpr std::string_view kDatawayMetricPath = "/v1/write/metric";

// "https://host:port/any/path?token=x&b=y" → "https://host:port/v1/upload/profiling?b=y&token=x":
// the configured path is replaced and the query re-encoded sorted by key, as DataKit does.
// Only http and https are accepted.
Result<std::string> DatawayUploadUrl(std::string_view dataway_url);
// The same for any Dataway endpoint path (starting with '/').
Result<std::string> DatawayEndpointUrl(std::string_view dataway_url, std::string_view path);
// <scheme://host>/<path>?<dataway query sorted>&namespace=<ns>&id=<id> (the election endpoints);
// the dataway URL must carry a token (Dataway identifies the workspace by it).
Result<std::string> ElectionUrl(std::string_view dataway_url, std::string_view path,
                                std::string_view election_namespace, std::string_view id);

}  // namespace profkit::forward
