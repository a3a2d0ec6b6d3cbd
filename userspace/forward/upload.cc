#include "profkit/forward/upload.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <random>
#include <string_view>

#include "profkit/common/clock.h"

namespace profkit::forward {
namespace {

// The tags_profiler format is "k:v,k:v" without escaping: separators inside a tag can only be
// replaced.
std::string SanitizeTagPart(std::string_view text, bool is_key) {
  std::string out(text);
  for (char& c : out) {
    if (c == ',' || (is_key && c == ':')) c = '_';
  }
  return out;
}

// Random hex; 128 bits make a collision with part content practically impossible, and the caller
// checks anyway.
std::string RandomBoundary() {
  std::random_device random;
  std::string boundary = "profkit-";
  for (int i = 0; i < 4; ++i) {
    boundary += fmt::format("{:08x}", static_cast<uint32_t>(random()));
  }
  return boundary;
}

// CR and LF would end a header line early.
std::string OneLine(std::string_view value) {
  std::string out(value);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n'; }, '_');
  return out;
}

// Quoted-string escaping for Content-Disposition parameters, as Go's mime/multipart does.
std::string QuoteParameter(std::string_view value) {
  std::string out = "\"";
  for (const char c : OneLine(value)) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

struct Part {
  std::string headers;  // ends with the blank line
  std::string_view data;
};

Part MakePart(const MultipartPart& part) {
  std::string headers = "Content-Disposition: form-data; name=" + QuoteParameter(part.name);
  if (part.is_file) headers += "; filename=" + QuoteParameter(part.filename);
  headers += "\r\n";
  if (!part.content_type.empty()) headers += "Content-Type: " + OneLine(part.content_type) + "\r\n";
  headers += "\r\n";
  return Part{std::move(headers), part.data};
}

}  // namespace

std::string BuildTagsProfiler(const ProfileUpload& upload) {
  std::vector<std::string> keys;
  std::string out;
  const auto add = [&](std::string_view key, std::string_view value, bool keep_empty) {
    if (key.empty() || (value.empty() && !keep_empty)) return;
    std::string clean_key = SanitizeTagPart(key, /*is_key=*/true);
    if (std::find(keys.begin(), keys.end(), clean_key) != keys.end()) return;
    if (!out.empty()) out += ',';
    out += clean_key;
    out += ':';
    out += SanitizeTagPart(value, /*is_key=*/false);
    keys.push_back(std::move(clean_key));
  };
  add("service", upload.service, /*keep_empty=*/true);
  add("env", upload.env, false);
  add("version", upload.version, false);
  add("host", upload.host, false);
  for (const auto& [key, value] : upload.extra_tags) add(key, value, false);
  return out;
}

std::string BuildEventJson(const ProfileUpload& upload) {
  nlohmann::ordered_json event;
  event["format"] = upload.format;
  event["profiler"] = upload.profiler;
  event["attachments"] = nlohmann::ordered_json::array();
  for (const Attachment& attachment : upload.attachments) {
    event["attachments"].push_back(attachment.name);
  }
  event["language"] = upload.language;
  event["tags_profiler"] = BuildTagsProfiler(upload);
  event["start"] = FormatRfc3339Nano(upload.start_unix_nanos);
  event["end"] = FormatRfc3339Nano(upload.end_unix_nanos);
  // Names come from clients and may be invalid UTF-8: replace rather than throw.
  return event.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

MultipartBody BuildMultipartUpload(const ProfileUpload& upload) {
  const std::string event = BuildEventJson(upload);
  std::vector<MultipartPart> parts;
  parts.reserve(upload.attachments.size() + 1);
  parts.push_back({"event", "event.json", true, "application/json", event});
  for (const Attachment& attachment : upload.attachments) {
    parts.push_back(
        {attachment.name, attachment.name, true, attachment.content_type, attachment.data});
  }
  return BuildMultipart(parts);
}

MultipartBody BuildMultipart(const std::vector<MultipartPart>& input) {
  std::vector<Part> parts;
  parts.reserve(input.size());
  for (const MultipartPart& part : input) parts.push_back(MakePart(part));

  std::string boundary;
  const auto occurs = [&](const Part& part) {
    return part.headers.find(boundary) != std::string::npos ||
           part.data.find(boundary) != std::string_view::npos;
  };
  do {
    boundary = RandomBoundary();
  } while (std::any_of(parts.begin(), parts.end(), occurs));

  size_t size = boundary.size() + 8;
  for (const Part& part : parts)
    size += boundary.size() + 6 + part.headers.size() + part.data.size();
  MultipartBody result;
  result.content_type = "multipart/form-data; boundary=" + boundary;
  result.body.reserve(size);
  for (const Part& part : parts) {
    result.body.append("--").append(boundary).append("\r\n");
    result.body.append(part.headers).append(part.data).append("\r\n");
  }
  result.body.append("--").append(boundary).append("--\r\n");
  return result;
}

}  // namespace profkit::forward
