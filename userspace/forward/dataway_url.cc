#include "profkit/forward/dataway_url.h"
#include "profkit/common/quoted.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "profkit/common/http_client.h"

namespace profkit::forward {
namespace {

struct CurlUrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlStringDeleter {
  void operator()(char* text) const { curl_free(text); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Go's url.QueryUnescape: "+" is a space, "%XX" a byte.
Result<std::string> QueryUnescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] != '%') {
      out += text[i];
    } else {
      const int high = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
      const int low = high >= 0 ? HexValue(text[i + 2]) : -1;
      if (low < 0) return Status::InvalidInput("invalid %-escape in the query");
      out += static_cast<char>(high * 16 + low);
      i += 2;
    }
  }
  return out;
}

// Go's url.QueryEscape: unreserved characters stay, a space becomes "+", the rest "%XX".
std::string QueryEscape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

// DataKit re-encodes the configured query with Go's url.Values.Encode: sorted by key, the values
// of one key in their original order.
Result<std::string> SortedQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    if (item.find(';') != std::string_view::npos) return Status::InvalidInput("';' in the query");
    const size_t equals = item.find('=');
    PROFKIT_ASSIGN_OR_RETURN(std::string key, QueryUnescape(item.substr(0, equals)));
    std::string value;
    if (equals != std::string_view::npos) {
      PROFKIT_ASSIGN_OR_RETURN(value, QueryUnescape(item.substr(equals + 1)));
    }
    pairs.emplace_back(std::move(key), std::move(value));
  }
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (!out.empty()) out += '&';
    out += QueryEscape(key) + "=" + QueryEscape(value);
  }
  return out;
}

// `absent`: the code curl returns for a missing optional part, which reads as an empty string.
Result<std::string> GetPart(CURLU* url, CURLUPart part, CURLUcode absent = CURLUE_OK) {
  char* text = nullptr;
  const CURLUcode rc = curl_url_get(url, part, &text, 0);
  CurlString owned(text);
  if (rc == CURLUE_OK) return std::string(text);
  if (rc == absent) return std::string();
  return Status::InvalidInput(curl_url_strerror(rc));
}

Result<std::string> BuildEndpointUrl(const std::string& dataway_url, std::string_view endpoint) {
  const std::unique_ptr<CURLU, CurlUrlDeleter> url(curl_url());
  if (url == nullptr) return Status::Internal("out of memory");
  CURLUcode rc = curl_url_set(url.get(), CURLUPART_URL, dataway_url.c_str(), 0);
  if (rc != CURLUE_OK) return Status::InvalidInput(curl_url_strerror(rc));
  PROFKIT_ASSIGN_OR_RETURN(const std::string scheme,
                           GetPart(url.get(), CURLUPART_SCHEME, CURLUE_NO_SCHEME));
  if (scheme != "http" && scheme != "https") {
    return Status::InvalidInputf("scheme {} is not http or https", Quoted(scheme));
  }
  PROFKIT_ASSIGN_OR_RETURN(const std::string host,
                           GetPart(url.get(), CURLUPART_HOST, CURLUE_NO_HOST));
  if (host.empty()) return Status::InvalidInput("no host");
  PROFKIT_ASSIGN_OR_RETURN(const std::string query,
                           GetPart(url.get(), CURLUPART_QUERY, CURLUE_NO_QUERY));
  PROFKIT_ASSIGN_OR_RETURN(const std::string sorted, SortedQuery(query));

  const std::string path(endpoint);
  rc = curl_url_set(url.get(), CURLUPART_PATH, path.c_str(), 0);
  // Credentials and fragments are not part of DataKit's upload URL either. The query is appended
  // afterwards because curl would lowercase its %-escapes.
  for (const CURLUPart part : {CURLUPART_QUERY, CURLUPART_FRAGMENT, CURLUPART_USER,
                               CURLUPART_PASSWORD, CURLUPART_OPTIONS}) {
    if (rc == CURLUE_OK) rc = curl_url_set(url.get(), part, nullptr, 0);
  }
  if (rc != CURLUE_OK) return Status::InvalidInput(curl_url_strerror(rc));
  PROFKIT_ASSIGN_OR_RETURN(std::string upload_url, GetPart(url.get(), CURLUPART_URL));
  if (!sorted.empty()) upload_url += "?" + sorted;
  return upload_url;
}

bool HasToken(std::string_view query) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    if (item.starts_with("token=") && item.size() > 6) return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

}  // namespace

Result<std::string> DatawayUploadUrl(std::string_view dataway_url) {
  return DatawayEndpointUrl(dataway_url, kDatawayUploadPath);
}

Result<std::string> DatawayEndpointUrl(std::string_view dataway_url, std::string_view path) {
  if (path.empty() || path[0] != '/')
    return Status::InvalidInputf("endpoint {} is not a path", Quoted(path));
  return BuildEndpointUrl(std::string(dataway_url), path)
      .WithContext(fmt::format("dataway url {}", Quoted(UrlWithoutSecrets(dataway_url))));
}

Result<std::string> ElectionUrl(std::string_view dataway_url, std::string_view path,
                                std::string_view election_namespace, std::string_view id) {
  PROFKIT_ASSIGN_OR_RETURN(std::string url, DatawayEndpointUrl(dataway_url, path));
  const size_t query = url.find('?');
  if (query == std::string::npos || !HasToken(std::string_view(url).substr(query + 1))) {
    return Status::InvalidInput("dataway.url has no token=...: the election needs it (or set "
                                "election = false in [[inputs.profile]])");
  }
  url += "&namespace=" + QueryEscape(election_namespace) + "&id=" + QueryEscape(id);
  return url;
}

}  // namespace profkit::forward
