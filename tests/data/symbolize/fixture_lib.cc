// Lines marked "MARK:<name>" are looked up by the test.
#include "fixture_lib.h"

namespace fixture {

int Widget::Compute(int x) {  // MARK:compute
  return x * 7 + 2;
}

}  // namespace fixture

extern "C" int fixture_exported_c(int x) {  // MARK:exported_c
  return x + 5;
}
