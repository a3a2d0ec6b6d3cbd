#include "profkit/net/multipart.h"
#include "profkit/common/quoted.h"

#include <algorithm>
#include <cctype>

namespace profkit::net {
namespace {

// RFC 2046: 1..70 characters.
constexpr size_t kMaxBoundaryBytes = 70;

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Parameters of a header value: `form-data; name="a\"b"; filename=x` → calls `on(key, value)`.
// Keys are lowercased; quoted values unescaped.
template <typename Callback>
Status ForEachParameter(std::string_view value, Callback on) {
  size_t semicolon = value.find(';');
  while (semicolon != std::string_view::npos) {
    value.remove_prefix(semicolon + 1);
    value = Trim(value);
    const size_t equals = value.find('=');
    if (equals == std::string_view::npos) {
      semicolon = value.find(';');
      continue;
    }
    const std::string key = Lower(Trim(value.substr(0, equals)));
    value.remove_prefix(equals + 1);
    value = Trim(value);
    std::string parsed;
    if (!value.empty() && value.front() == '"') {
      size_t i = 1;
      for (; i < value.size() && value[i] != '"'; ++i) {
        if (value[i] == '\\' && i + 1 < value.size()) ++i;
        parsed += value[i];
      }
      if (i >= value.size())
        return Status::InvalidInputf("unterminated quoted parameter {}", Quoted(key));
      value.remove_prefix(i + 1);
    } else {
      const size_t end = value.find(';');
      parsed = std::string(Trim(value.substr(0, end)));
      value.remove_prefix(end == std::string_view::npos ? value.size() : end);
    }
    on(key, std::move(parsed));
    semicolon = value.find(';');
  }
  return Status::Ok();
}

Status ParseHeaders(std::string_view block, Part* part) {
  bool disposition = false;
  while (!block.empty()) {
    const size_t eol = block.find("\r\n");
    const std::string_view line = block.substr(0, eol);
    block.remove_prefix(eol == std::string_view::npos ? block.size() : eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Status::InvalidInputf("header line without ':'");
    const std::string name = Lower(Trim(line.substr(0, colon)));
    const std::string_view value = Trim(line.substr(colon + 1));
    if (name == "content-disposition") {
      if (Lower(value.substr(0, value.find(';'))) != "form-data") {
        return Status::InvalidInput("Content-Disposition is not form-data");
      }
      disposition = true;
      PROFKIT_RETURN_IF_ERROR(ForEachParameter(value, [&](const std::string& key, std::string v) {
        if (key == "name") part->name = std::move(v);
        if (key == "filename") {
          part->filename = std::move(v);
          part->has_filename = true;
        }
      }));
    } else if (name == "content-type") {
      part->content_type = std::string(value);
    }
  }
  if (!disposition) return Status::InvalidInput("no Content-Disposition");
  if (part->name.empty()) return Status::InvalidInput("no field name");
  return Status::Ok();
}

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
  if (content_type.empty())
    return Status::InvalidInput("no Content-Type (expected multipart/form-data)");
  const std::string media = Lower(Trim(content_type.substr(0, content_type.find(';'))));
  if (media != "multipart/form-data") {
    return Status::InvalidInputf("Content-Type {} is not multipart/form-data", Quoted(media));
  }
  std::string boundary;
  PROFKIT_RETURN_IF_ERROR(
      ForEachParameter(content_type, [&](const std::string& key, std::string v) {
        if (key == "boundary") boundary = std::move(v);
      }));
  if (boundary.empty() || boundary.size() > kMaxBoundaryBytes) {
    return Status::InvalidInput("multipart/form-data without a valid boundary parameter");
  }
  return boundary;
}

Result<std::vector<Part>> ParseMultipart(std::string_view body, std::string_view boundary) {
  const std::string delimiter = "\r\n--" + std::string(boundary);
  // The first delimiter may start the body (no preamble) or follow a preamble line.
  size_t position;
  if (body.substr(0, delimiter.size() - 2) == std::string_view(delimiter).substr(2)) {
    position = delimiter.size() - 2;
  } else {
    position = body.find(delimiter);
    if (position == std::string_view::npos)
      return Status::InvalidInput("no multipart boundary in the body");
    position += delimiter.size();
  }
  std::vector<Part> parts;
  while (true) {
    // After a delimiter: "--" closes the body, otherwise optional whitespace and CRLF.
    if (body.substr(position, 2) == "--") return parts;
    while (position < body.size() && (body[position] == ' ' || body[position] == '\t')) ++position;
    if (body.substr(position, 2) != "\r\n") {
      return position >= body.size()
                 ? Status::InvalidInput("no closing boundary (truncated body?)")
                 : Status::InvalidInputf("part {}: garbage after the boundary", parts.size() + 1);
    }
    position += 2;
    if (parts.size() == kMaxMultipartParts) {
      return Status::TooLargef("more than {} parts", kMaxMultipartParts);
    }
    const size_t headers_end = body.find("\r\n\r\n", position);
    // An empty header block: the blank line follows the boundary line directly.
    const bool no_headers = body.substr(position, 2) == "\r\n";
    if (!no_headers &&
        (headers_end == std::string_view::npos || headers_end - position > kMaxPartHeaderBytes)) {
      return Status::InvalidInputf("part {}: headers missing, unterminated or over {} bytes",
                                   parts.size() + 1, kMaxPartHeaderBytes);
    }
    Part part;
    const Status headers = ParseHeaders(
        no_headers ? std::string_view() : body.substr(position, headers_end - position), &part);
    if (!headers.ok()) return headers.WithContext(fmt::format("part {}", parts.size() + 1));
    position = no_headers ? position + 2 : headers_end + 4;
    const size_t end = body.find(delimiter, position);
    if (end == std::string_view::npos)
      return Status::InvalidInput("no closing boundary (truncated body?)");
    part.data = body.substr(position, end - position);
    parts.push_back(std::move(part));
    position = end + delimiter.size();
  }
}

}  // namespace profkit::net
