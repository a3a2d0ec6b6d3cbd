#include "profkit/pull/pprof_fetch.h"

#include <curl/curl.h>

#include <cstdlib>

#include "profkit/common/clock.h"
#include "profkit/common/http_client.h"
#include "profkit/common/log.h"

namespace profkit::pull {

using config::GoProfileType;
using config::GoProfileTypeName;
using config::GoTarget;
using config::GoTargetBaseUrl;
using config::ValidateGoTarget;

namespace {

struct Transfer {
  std::string* body;
  bool too_large = false;
  const std::atomic<bool>* cancel;
};

size_t AppendBounded(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (transfer->body->size() + n > kMaxProfileBodyBytes) {
    transfer->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  transfer->body->append(data, n);
  return n;
}

// libcurl calls this about once a second and whenever data moves; non-zero aborts.
int CheckCancel(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* transfer = static_cast<Transfer*>(user);
  return transfer->cancel != nullptr && transfer->cancel->load() ? 1 : 0;
}

FetchErrorKind KindOf(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return FetchErrorKind::kTimeout;
    case CURLE_ABORTED_BY_CALLBACK:
      return FetchErrorKind::kCancelled;
    default:
      // Connection refused, DNS, TLS and protocol failures: the target cannot be used.
      return FetchErrorKind::kUnreachable;
  }
}

}  // namespace

PprofFetcher::PprofFetcher(GoTarget target, const std::atomic<bool>* cancel)
    : target_(std::move(target)), cancel_(cancel) {
  InitCurlOnce();
  auto base = GoTargetBaseUrl(target_);
  base_url_ = base.ok() ? *base : target_.url;  // ValidateGoTarget ran before; keep going anyway
  easy_ = curl_easy_init();
  if (easy_ == nullptr) {
    spdlog::critical("libcurl: out of memory creating a handle");
    std::abort();
  }
}

PprofFetcher::~PprofFetcher() { curl_easy_cleanup(static_cast<CURL*>(easy_)); }

bool PprofFetcher::Fetch(GoProfileType type, std::chrono::seconds cpu_seconds, FetchedProfile* out,
                         FetchError* error) {
  std::string path = "/debug/pprof/";
  std::chrono::seconds timeout = kFetchTimeout;
  if (type == GoProfileType::kCpu) {
    path += "profile?seconds=" + std::to_string(cpu_seconds.count());
    timeout += cpu_seconds;
  } else {
    path += GoProfileTypeName(type);
  }
  out->body.clear();
  out->start_unix_nanos = WallTimeNanos();
  const bool ok = Get(path, timeout, &out->body, error);
  out->end_unix_nanos = WallTimeNanos();
  return ok;
}

bool PprofFetcher::Get(std::string_view path_and_query, std::chrono::seconds timeout,
                       std::string* body, FetchError* error) {
  const std::string url = base_url_ + std::string(path_and_query);
  const std::string context = "GET " + UrlWithoutSecrets(url);
  CURL* easy = static_cast<CURL*>(easy_);
  // The handle must not keep pointers to this call's buffers; reset keeps live connections.
  struct ResetOnExit {
    CURL* easy;
    ~ResetOnExit() { curl_easy_reset(easy); }
  } reset_on_exit{easy};
  body->clear();
  Transfer transfer{body, false, cancel_};
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(kConnectTimeout.count() * 1000));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count() * 1000));
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &AppendBounded);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &CheckCancel);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  if (!target_.tls_ca.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, target_.tls_ca.c_str());
  if (!target_.tls_cert.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLCERT, target_.tls_cert.c_str());
    curl_easy_setopt(easy, CURLOPT_SSLKEY, target_.tls_key.c_str());
  }
  if (target_.insecure_skip_verify) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  const CURLcode result = curl_easy_perform(easy);
  if (transfer.too_large) {
    *error = {FetchErrorKind::kTooLarge,
              fmt::format("{}: body exceeds {} bytes", context, kMaxProfileBodyBytes)};
    return false;
  }
  if (result != CURLE_OK) {
    // The error buffer names host and port at most, never the query.
    *error = {KindOf(result),
              error_buffer[0] != '\0'
                  ? fmt::format("{}: {}: {}", context, curl_easy_strerror(result), error_buffer)
                  : fmt::format("{}: {}", context, curl_easy_strerror(result))};
    return false;
  }
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    *error = {FetchErrorKind::kHttpStatus, fmt::format("{}: HTTP status {}", context, status)};
    return false;
  }
  return true;
}

}  // namespace profkit::pull
