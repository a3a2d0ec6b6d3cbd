// C++ shared-library fixture linked into symbolize_test.
#pragma once

namespace fixture {

class Widget {
 public:
  static int Compute(int x);
};

// The static invoker (`_FUN`) of a captureless lambda made in a constructor that is always
// inlined: GCC writes `_FUN`, with its code, inside the constructor's DIE, which has none.
int (*InvokerOfLambda())();

}  // namespace fixture

extern "C" int fixture_exported_c(int x);
