// A small blocking HTTP client over libcurl, for uploads to Dataway. URLs often carry a token in
// their query, so nothing here ever prints a URL with its query.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "profkit/common/status.h"

namespace profkit {

struct HttpRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{75000};
  // When set and it becomes true, Post gives up within kHttpCancelPollInterval: lets a sender
  // thread stop promptly on shutdown instead of waiting for `timeout`.
  const std::atomic<bool>* cancel = nullptr;
};

struct HttpResponse {
  long status = 0;
  std::string body;  // at most kMaxHttpResponseBodyBytes; the rest is read and discarded
};

// Upstream answers are small JSON documents; more than this is noise we don't need to keep.
inline constexpr size_t kMaxHttpResponseBodyBytes = 1 << 20;
// How often a transfer checks HttpRequest::cancel while waiting on the network.
inline constexpr std::chrono::milliseconds kHttpCancelPollInterval{50};

// libcurl's global initialisation, done once for the process; call it before curl_easy_init
// (every libcurl user in profkit does, so no two threads race to do it implicitly).
void InitCurlOnce();

// "https://user:pw@host:1/p?token=x#f" → "https://host:1/p": safe to log.
std::string UrlWithoutSecrets(std::string_view url);

// One libcurl handle reused across requests (connections are kept alive). Not thread-safe.
class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any HTTP status is a response; only transport failures (connect, TLS, timeout, cancel) are
  // errors, naming the URL without its query.
  Result<HttpResponse> Post(const HttpRequest& request);

 private:
  // CURLM* and CURL*, kept opaque so that users of this header don't include curl.h.
  void* multi_;
  void* easy_;
};

}  // namespace profkit
