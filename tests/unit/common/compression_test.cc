#include "profkit/common/compression.h"

#include <gtest/gtest.h>

namespace profkit {
namespace {

TEST(CompressionTest, GzipRoundTrip) {
  const std::string input(100000, 'x');
  const Result<std::string> packed = GzipCompress(input);
  ASSERT_TRUE(packed.ok());
  EXPECT_LT(packed->size(), input.size());
  EXPECT_EQ(static_cast<unsigned char>((*packed)[0]), 0x1f);
  const Result<std::string> unpacked = GzipDecompress(*packed, input.size());
  ASSERT_TRUE(unpacked.ok()) << unpacked.status().message();
  EXPECT_EQ(*unpacked, input);
}

TEST(CompressionTest, DecompressionIsBounded) {
  const Result<std::string> packed = GzipCompress(std::string(1 << 20, '\0'));
  ASSERT_TRUE(packed.ok());
  const Result<std::string> unpacked = GzipDecompress(*packed, 1000);
  ASSERT_FALSE(unpacked.ok());
  EXPECT_NE(unpacked.status().message().find("exceeds 1000 bytes"), std::string::npos);
  EXPECT_EQ(unpacked.status().code(), StatusCode::kTooLarge);
}

TEST(CompressionTest, TruncatedInputIsAnError) {
  const Result<std::string> packed = GzipCompress("hello world, hello world");
  ASSERT_TRUE(packed.ok());
  const Result<std::string> unpacked =
      GzipDecompress(packed->substr(0, packed->size() / 2), 1 << 20);
  ASSERT_FALSE(unpacked.ok());
  EXPECT_EQ(unpacked.status().message(), "gzip: unexpected end of stream");
  EXPECT_EQ(unpacked.status().code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace profkit
