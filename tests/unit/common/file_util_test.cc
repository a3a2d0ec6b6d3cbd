#include "profkit/common/file_util.h"
#include "testing/temp_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace profkit {
namespace {

class FileUtilTest : public ::testing::Test {
 protected:
  testing::TempDir temp_dir_;
  const std::string dir_ = temp_dir_.path();
};

TEST_F(FileUtilTest, AtomicWriteThenBoundedRead) {
  ASSERT_TRUE(MakeDirectories(dir_ + "/a/b").ok());
  const std::string path = dir_ + "/a/b/file";
  ASSERT_TRUE(WriteFileAtomically(path, "0123456789").ok());
  EXPECT_EQ(*ReadFileBounded(path, 10), "0123456789");
  EXPECT_FALSE(ReadFileBounded(path, 9).ok());
  EXPECT_EQ(*ReadFileBounded(path, 4, /*truncate_ok=*/true), "0123");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_ + "/a/b"), {}), 1)
      << "no temporary file may be left behind";
}

TEST_F(FileUtilTest, MissingFileNamesThePath) {
  const Result<std::string> r = ReadFileBounded(dir_ + "/missing", 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "open " + dir_ + "/missing: No such file or directory");
}

}  // namespace
}  // namespace profkit
