#include "profkit/common/compression.h"

#include <gtest/gtest.h>

#include "test_pprof.h"

namespace profkit {
namespace {

using metrics::testing::Lz4;
using metrics::testing::Zstd;

std::string Text(size_t size) {
  std::string text;
  for (size_t i = 0; text.size() < size; ++i) text += "sample " + std::to_string(i % 97) + "\n";
  text.resize(size);
  return text;
}

TEST(Compression, DetectsByMagicBytes) {
  const std::string text = Text(1000);
  EXPECT_EQ(DetectCompression(*GzipCompress(text)), Compression::kGzip);
  EXPECT_EQ(DetectCompression(Zstd(text)), Compression::kZstd);
  EXPECT_EQ(DetectCompression(Lz4(text)), Compression::kLz4Frame);
  EXPECT_EQ(DetectCompression(text), Compression::kNone);
  EXPECT_EQ(DetectCompression(""), Compression::kNone);
  EXPECT_EQ(DetectCompression("\x1f"), Compression::kNone);
}

TEST(Compression, RoundTripsEveryFormat) {
  const std::string text = Text(300'000);  // several decoder chunks
  for (const std::string& packed : {*GzipCompress(text), Zstd(text), Lz4(text), text}) {
    Result<std::string> out = Decompress(packed, text.size());
    ASSERT_TRUE(out.ok()) << out.status().message();
    EXPECT_EQ(*out, text);
  }
}

TEST(Compression, ConcatenatedFramesAreAllDecoded) {
  const std::string a = Text(5000), b = "tail";
  EXPECT_EQ(*ZstdDecompress(Zstd(a) + Zstd(b), 1 << 20), a + b);
  EXPECT_EQ(*Lz4FrameDecompress(Lz4(a) + Lz4(b), 1 << 20), a + b);
}

TEST(Compression, BombsStopAtTheBound) {
  // 64 MiB of zeros compress to a few KiB: the decoders must give up at the bound, not after.
  const std::string zeros(64 << 20, '\0');
  for (const std::string& bomb : {*GzipCompress(zeros), Zstd(zeros), Lz4(zeros)}) {
    ASSERT_LT(bomb.size(), 1u << 20);
    Result<std::string> out = Decompress(bomb, 1 << 20);
    ASSERT_FALSE(out.ok());
    EXPECT_NE(out.status().message().find("exceeds 1048576 bytes"), std::string::npos)
        << out.status().message();
  }
  EXPECT_FALSE(Decompress(Text(100), 99).ok());
}

TEST(Compression, TruncatedAndCorruptInputIsAnError) {
  const std::string text = Text(100'000);
  for (const std::string& packed : {*GzipCompress(text), Zstd(text), Lz4(text)}) {
    for (size_t keep : {size_t{4}, packed.size() / 2, packed.size() - 1}) {
      Result<std::string> out = Decompress(packed.substr(0, keep), 1 << 20);
      EXPECT_FALSE(out.ok()) << CompressionName(DetectCompression(packed)) << " keep " << keep;
    }
    std::string corrupt = packed;
    for (size_t i = 8; i < corrupt.size(); i += 7)
      corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5a);
    EXPECT_FALSE(Decompress(corrupt, 1 << 20).ok()) << CompressionName(DetectCompression(packed));
  }
}

}  // namespace
}  // namespace profkit
