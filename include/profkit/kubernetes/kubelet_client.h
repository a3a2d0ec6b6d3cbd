// GET <kubelet>/pods with the service account's bearer token, re-read from its file on every
// request (projected tokens rotate), verifying the kubelet's certificate against a CA file unless
// told not to (kubelet serving certificates are often self-signed).
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "profkit/common/status.h"

namespace profkit::kubernetes {

// A token is a JWT of about a kilobyte.
inline constexpr size_t kMaxTokenBytes = 64 << 10;

struct KubeletOptions {
  std::string url;         // "https://10.0.0.5:10250"; /pods is appended
  std::string token_file;  // "" = no Authorization header
  std::string ca_file;     // "" = the system's CAs
  bool insecure_skip_verify = false;
  std::chrono::milliseconds timeout{10000};
};

// The body of a 200 answer (at most kMaxPodListBytes); any other status, a transport or TLS
// failure, an unreadable token file is an error naming the URL and what to check. `cancel`
// (may be null) ends a transfer early when it becomes true.
Result<std::string> FetchPodList(const KubeletOptions& options, const std::atomic<bool>* cancel);

}  // namespace profkit::kubernetes
