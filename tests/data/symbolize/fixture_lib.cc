// Lines marked "MARK:<name>" are looked up by the test.
#include "fixture_lib.h"

namespace fixture {

int Widget::Compute(int x) {  // MARK:compute
  return x * 7 + 2;
}

namespace {
struct Invoker {
  template <typename F>
  __attribute__((always_inline)) explicit Invoker(F)
      : call(+[]() { return 41 + 1; }) {}  // MARK:lambda_invoker
  int (*call)();
};
}  // namespace

int (*InvokerOfLambda())() {
  return Invoker([] {}).call;
}

}  // namespace fixture

extern "C" int fixture_exported_c(int x) {  // MARK:exported_c
  return x + 5;
}
