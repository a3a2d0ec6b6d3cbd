// multipart/form-data (RFC 7578) decoding of uploads from tracers: bytes in, parts out, no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "profkit/common/status.h"

namespace profkit::net {

// Tracers send one event, a few profiles and some fields; more parts than this is not an upload.
inline constexpr size_t kMaxMultipartParts = 256;
// The header block of one part: a Content-Disposition and a Content-Type line fit easily.
inline constexpr size_t kMaxPartHeaderBytes = 8192;

struct Part {
  std::string name;
  std::string filename;       // "" for a plain field
  bool has_filename = false;  // filename="" is still a file part
  std::string content_type;   // "" when the part has none (libdatadog omits it)
  std::string_view data;      // into the body passed to ParseMultipart
};

// The boundary parameter of a multipart/form-data Content-Type; errors say what is wrong.
Result<std::string> MultipartBoundary(std::string_view content_type);

// Splits `body` into its parts, in order. Errors name the problem ("part 3: no
// Content-Disposition", "no closing boundary (truncated body?)").
Result<std::vector<Part>> ParseMultipart(std::string_view body, std::string_view boundary);

}  // namespace profkit::net
