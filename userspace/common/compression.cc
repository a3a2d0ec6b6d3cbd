#include "profkit/common/compression.h"

#include <zlib.h>

namespace profkit {
namespace {

constexpr int kGzipWindowBits = 15 + 16;  // +16 selects the gzip wrapper in zlib

}  // namespace

Result<std::string> GzipCompress(std::string_view data) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status::Error("gzip: deflateInit2 failed");
  }
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&stream, Z_FINISH);
  deflateEnd(&stream);
  if (rc != Z_STREAM_END) return Status::Errorf("gzip: deflate failed ({})", rc);
  out.resize(stream.total_out);
  return out;
}

Result<std::string> GzipDecompress(std::string_view data, size_t max_output_bytes) {
  z_stream stream{};
  if (inflateInit2(&stream, kGzipWindowBits) != Z_OK) return Status::Error("gzip: inflateInit2 failed");
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buffer[65536];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof(buffer);
    rc = inflate(&stream, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&stream);
      return Status::Errorf("gzip: {}", rc == Z_BUF_ERROR ? "unexpected end of stream"
                                                          : (stream.msg ? stream.msg : "corrupt data"));
    }
    const size_t produced = sizeof(buffer) - stream.avail_out;
    if (out.size() + produced > max_output_bytes) {
      inflateEnd(&stream);
      return Status::Errorf("gzip: decompressed size exceeds {} bytes", max_output_bytes);
    }
    out.append(buffer, produced);
  }
  inflateEnd(&stream);
  return out;
}

}  // namespace profkit
