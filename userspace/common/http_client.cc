#include "profkit/common/http_client.h"
#include "profkit/common/quoted.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "profkit/common/log.h"

namespace profkit {

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Without curl_global_init the first easy handle would do it, racing with other threads.
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      spdlog::critical("curl_global_init failed");
      std::abort();
    }
  });
}

namespace {

size_t AppendBounded(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t n = size * count;
  if (body->size() < kMaxHttpResponseBodyBytes) {
    body->append(data, std::min(n, kMaxHttpResponseBodyBytes - body->size()));
  }
  return n;  // consume everything so the connection stays reusable
}

class HeaderList {
 public:
  ~HeaderList() { curl_slist_free_all(list_); }
  bool Append(const std::string& line) {
    curl_slist* next = curl_slist_append(list_, line.c_str());
    if (next == nullptr) return false;
    list_ = next;
    return true;
  }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

}  // namespace

std::string UrlWithoutSecrets(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  const size_t scheme_end = url.find("://");
  const size_t authority_begin = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const size_t authority_end = url.find('/', authority_begin);
  const size_t at = url.substr(0, authority_end).rfind('@');
  if (at == std::string_view::npos || at < authority_begin) return std::string(url);
  return std::string(url.substr(0, authority_begin)) + std::string(url.substr(at + 1));
}

HttpClient::HttpClient() {
  InitCurlOnce();
  multi_ = curl_multi_init();
  easy_ = curl_easy_init();
  if (multi_ == nullptr || easy_ == nullptr) {
    spdlog::critical("libcurl: out of memory creating a handle");
    std::abort();
  }
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(easy_);
  curl_multi_cleanup(multi_);
}

Result<HttpResponse> HttpClient::Post(const HttpRequest& request) {
  const std::string context = "POST " + UrlWithoutSecrets(request.url);
  HeaderList headers;
  for (const auto& [name, value] : request.headers) {
    if (name.find_first_of(":\r\n") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      return Status::InvalidInputf("{}: invalid header {}", context, Quoted(name));
    }
    if (!headers.Append(name + ": " + value))
      return Status::Internalf("{}: out of memory", context);
  }
  // curl would otherwise wait up to a second for "100 Continue" before sending large bodies.
  if (!headers.Append("Expect:")) return Status::Internalf("{}: out of memory", context);

  HttpResponse response;
  char error_buffer[CURL_ERROR_SIZE] = {};
  CURL* easy = easy_;
  // The handle must not keep pointers to this call's buffers; reset keeps live connections.
  struct ResetOnExit {
    CURL* easy;
    ~ResetOnExit() { curl_easy_reset(easy); }
  } reset_on_exit{easy};
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_POST, 1L);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &AppendBounded);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);

  // The multi interface lets the wait be split into short polls that check `cancel`.
  CURLM* multi = multi_;
  if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
    return Status::Internalf("{}: curl_multi_add_handle failed", context);
  }
  CURLcode result = CURLE_OK;
  bool cancelled = false;
  while (true) {
    int running = 0;
    const CURLMcode perform = curl_multi_perform(multi, &running);
    if (perform != CURLM_OK) {
      curl_multi_remove_handle(multi, easy);
      return Status::Internalf("{}: {}", context, curl_multi_strerror(perform));
    }
    if (running == 0) break;
    if (request.cancel != nullptr && request.cancel->load()) {
      cancelled = true;
      break;
    }
    const CURLMcode poll = curl_multi_poll(
        multi, nullptr, 0, static_cast<int>(kHttpCancelPollInterval.count()), nullptr);
    if (poll != CURLM_OK) {
      curl_multi_remove_handle(multi, easy);
      return Status::Internalf("{}: {}", context, curl_multi_strerror(poll));
    }
  }
  if (!cancelled) {
    int pending = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &pending)) {
      if (message->msg == CURLMSG_DONE && message->easy_handle == easy)
        result = message->data.result;
    }
  }
  curl_multi_remove_handle(multi, easy);

  if (cancelled) return Status::Unavailablef("{}: cancelled", context);
  if (result != CURLE_OK) {
    // The error buffer names host and port at most, never the query.
    if (error_buffer[0] != '\0') {
      return Status::Unavailablef("{}: {}: {}", context, curl_easy_strerror(result), error_buffer);
    }
    return Status::Unavailablef("{}: {}", context, curl_easy_strerror(result));
  }
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace profkit
