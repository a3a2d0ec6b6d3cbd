#include "profkit/config/address.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <strings.h>

#include <charconv>
#include <memory>

namespace profkit::config {
namespace {

Result<uint16_t> ParsePort(std::string_view text) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value == 0 ||
      value > 65535) {
    return Status::InvalidInputf("port must be a number between 1 and 65535, got \"{}\"", text);
  }
  return static_cast<uint16_t>(value);
}

// Hostname labels or an IPv4 literal: letters, digits, '-', '.' (RFC 1123), at most 253 bytes.
bool IsValidHostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool StartsWithIgnoringCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         strncasecmp(text.data(), prefix.data(), prefix.size()) == 0;
}

struct CurlUrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};

// The part as a string, or "" when the URL has none.
std::string GetPart(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK || value == nullptr) return "";
  std::string result(value);
  curl_free(value);
  return result;
}

}  // namespace

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  const auto invalid = [&](std::string_view why) {
    return Status::InvalidInputf("invalid address \"{}\": {}", text, why);
  };
  ListenAddress address;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return invalid("missing ']' after the IPv6 address");
    address.host = std::string(text.substr(1, close - 1));
    in6_addr parsed;
    if (inet_pton(AF_INET6, address.host.c_str(), &parsed) != 1) {
      return invalid("not an IPv6 address between '[' and ']'");
    }
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return invalid("expected \"[address]:port\"");
    }
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return invalid("expected \"host:port\"");
    const std::string_view host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return invalid("IPv6 addresses must be in brackets, e.g. \"[::1]:9529\"");
    }
    if (host.empty()) {
      address.host = "0.0.0.0";
    } else if (IsValidHostname(host)) {
      address.host = std::string(host);
    } else {
      return invalid(fmt::format("\"{}\" is not a valid host name or IPv4 address", host));
    }
    port_text = text.substr(colon + 1);
  }
  Result<uint16_t> port = ParsePort(port_text);
  if (!port.ok()) return invalid(port.status().message());
  address.port = *port;
  return address;
}

Status ValidateHttpUrl(std::string_view url) {
  if (url.size() > kMaxUrlBytes) {
    return Status::InvalidInputf("URL longer than {} bytes ({} bytes)", kMaxUrlBytes, url.size());
  }
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Status::InvalidInput("URL must not contain spaces or control characters");
    }
  }
  // Checked before libcurl, which forgives "https:/host" and names a missing scheme vaguely.
  if (!StartsWithIgnoringCase(url, "http://") && !StartsWithIgnoringCase(url, "https://")) {
    return Status::InvalidInputf("invalid URL \"{}\": must start with http:// or https://", url);
  }
  std::unique_ptr<CURLU, CurlUrlDeleter> parsed(curl_url());
  if (parsed == nullptr) return Status::Internal("URL parser: out of memory");
  const std::string text(url);
  const CURLUcode code = curl_url_set(parsed.get(), CURLUPART_URL, text.c_str(), 0);
  if (code != CURLUE_OK) {
    return Status::InvalidInputf("invalid URL \"{}\": {}", url, curl_url_strerror(code));
  }
  if (GetPart(parsed.get(), CURLUPART_HOST).empty()) {
    return Status::InvalidInputf("invalid URL \"{}\": missing host", url);
  }
  if (!GetPart(parsed.get(), CURLUPART_USER).empty() ||
      !GetPart(parsed.get(), CURLUPART_PASSWORD).empty()) {
    return Status::InvalidInputf(
        "invalid URL \"{}\": user info is not supported (put the token in the "
        "query, e.g. ?token=tkn_xxx)",
        url);
  }
  if (!GetPart(parsed.get(), CURLUPART_FRAGMENT).empty() || url.find('#') != std::string::npos) {
    return Status::InvalidInputf("invalid URL \"{}\": fragments (#...) are not allowed", url);
  }
  const std::string port = GetPart(parsed.get(), CURLUPART_PORT);
  if (port == "0") {
    return Status::InvalidInputf("invalid URL \"{}\": port must be between 1 and 65535", url);
  }
  return Status::Ok();
}

}  // namespace profkit::config
