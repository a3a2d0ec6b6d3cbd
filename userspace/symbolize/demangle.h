// C++ demangling through the C++ runtime's demangler (abi::__cxa_demangle).
#pragma once

#include <string>
#include <string_view>

namespace profkit::symbolize {

// "ns::Foo::bar(int)" for an Itanium-mangled name; the name itself when it is not mangled, too
// long to demangle safely, or malformed.
std::string Demangle(std::string_view name);

}  // namespace profkit::symbolize
