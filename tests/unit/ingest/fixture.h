// The captured dd-trace-js 5.132 upload (tests/data/ingest/).
#pragma once

#include <fstream>
#include <iterator>
#include <string>

namespace profkit::ingest::testing {

inline std::string ReadTestData(const std::string& name) {
  std::ifstream in(std::string(PROFKIT_TEST_DATA_DIR) + "/ingest/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline constexpr char kFixtureContentType[] = "multipart/form-data; boundary=6f6355e8d3c54f4b";

inline std::string FixtureBody() { return ReadTestData("ddtrace-js-5.132-push.multipart"); }

}  // namespace profkit::ingest::testing
