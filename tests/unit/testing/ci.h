// Whether the tests run under CI (CI=true): there a test whose requirement (root, BPF, an
// interpreter, a toolchain) is missing must fail instead of skipping, so a broken CI image cannot
// pass by testing nothing.
#pragma once

#include <cstdlib>
#include <string_view>

namespace profkit::testing {

inline bool RunningInCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

}  // namespace profkit::testing
