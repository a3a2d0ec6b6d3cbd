#include "demangle.h"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace profkit::symbolize {
namespace {

// Names come from binaries we do not control and the demangler recurses per nesting level; no
// real symbol needs more, and the limit keeps a crafted name from exhausting the stack.
constexpr size_t kMaxDemangleInputBytes = 4096;

}  // namespace

std::string Demangle(std::string_view name) {
  if (name.size() < 2 || name.substr(0, 2) != "_Z" || name.size() > kMaxDemangleInputBytes) {
    return std::string(name);
  }
  const std::string input(name);
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(
      abi::__cxa_demangle(input.c_str(), nullptr, nullptr, &status), &std::free);
  if (status != 0 || out == nullptr) return input;
  return std::string(out.get());
}

}  // namespace profkit::symbolize
