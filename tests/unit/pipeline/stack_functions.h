// Functions of the test binary whose addresses tests put into constructed samples: their names
// in the binary's symbol table are the oracle for symbolization.
#pragma once

#include <cstdint>

extern "C" {
int PkTestLeaf(int n);
int PkTestCaller(int n);
int PkTestOuter(int n);
}

namespace profkit::testing {

inline uint64_t Address(int (*function)(int)) { return reinterpret_cast<uint64_t>(function); }
// An address inside the function, as a return address into it would be.
inline uint64_t Inside(int (*function)(int)) { return Address(function) + 8; }

}  // namespace profkit::testing
