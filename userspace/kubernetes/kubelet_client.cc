#include "profkit/kubernetes/kubelet_client.h"

#include <curl/curl.h>

#include <memory>

#include "profkit/common/file_util.h"
#include "profkit/common/http_client.h"
#include "profkit/kubernetes/pod_list.h"

namespace profkit::kubernetes {
namespace {

struct Transfer {
  std::string body;
  bool too_large = false;
  const std::atomic<bool>* cancel = nullptr;
};

size_t Append(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (transfer->body.size() + n > kMaxPodListBytes) {
    transfer->too_large = true;
    return 0;  // aborts the transfer
  }
  transfer->body.append(data, n);
  return n;
}

int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* transfer = static_cast<const Transfer*>(user);
  return transfer->cancel != nullptr && transfer->cancel->load(std::memory_order_relaxed) ? 1 : 0;
}

Result<std::string> ReadToken(const std::string& path) {
  Result<std::string> token = ReadFileBounded(path, kMaxTokenBytes);
  if (!token.ok()) {
    return token.status().WithContext(
        "kubernetes.token_file (the service account token; is automountServiceAccountToken on?)");
  }
  std::string value = std::move(token).value();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' ')) {
    value.pop_back();
  }
  if (value.empty() || value.find_first_of("\r\n") != std::string::npos) {
    return Status::InvalidInputf("kubernetes.token_file {}: not a single-line token", path);
  }
  return value;
}

}  // namespace

Result<std::string> FetchPodList(const KubeletOptions& options, const std::atomic<bool>* cancel) {
  InitCurlOnce();
  std::string url = options.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/pods";
  const std::string safe_url = UrlWithoutSecrets(url);
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Status::Unavailable("kubelet: curl_easy_init failed");
  struct curl_slist* headers = nullptr;
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(nullptr,
                                                                          curl_slist_free_all);
  if (!options.token_file.empty()) {
    PROFKIT_ASSIGN_OR_RETURN(const std::string token, ReadToken(options.token_file));
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  }
  headers = curl_slist_append(headers, "Accept: application/json");
  header_list.reset(headers);
  Transfer transfer{.cancel = cancel};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, Progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  if (!options.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options.ca_file.c_str());
  if (options.insecure_skip_verify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  const CURLcode code = curl_easy_perform(h);
  if (transfer.too_large) {
    return Status::TooLargef("kubelet {}: answer longer than {} MiB", safe_url,
                             kMaxPodListBytes >> 20);
  }
  if (code != CURLE_OK) {
    const bool tls = code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE ||
                     code == CURLE_SSL_CONNECT_ERROR;
    return Status::Unavailablef(
        "kubelet {}: {}{}", safe_url, curl_easy_strerror(code),
        tls ? " (check kubernetes.ca_file, or set kubernetes.insecure_skip_verify = true)" : "");
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status == 401 || status == 403) {
    return Status::PermissionDeniedf(
        "kubelet {}: HTTP {} (the service account needs get on nodes/proxy or nodes/pods, see "
        "deploy/profkit.yaml)",
        safe_url, status);
  }
  if (status != 200) return Status::Unavailablef("kubelet {}: HTTP {}", safe_url, status);
  return std::move(transfer.body);
}

}  // namespace profkit::kubernetes
