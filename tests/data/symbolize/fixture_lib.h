// C++ shared-library fixture linked into symbolize_test.
#pragma once

namespace fixture {

class Widget {
 public:
  static int Compute(int x);
};

}  // namespace fixture

extern "C" int fixture_exported_c(int x);
