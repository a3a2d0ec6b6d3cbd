// Quoted(text) formats text from outside (HTTP bodies and headers, labels, config values) in double
// quotes with every byte that is not printable ASCII escaped, for errors and logs.
//
// Use it instead of fmt's "{:?}" for anything profkit did not write itself: fmt 9.1 asserts on
// invalid UTF-8 there ("negative value"), and Debian's libspdlog exports an assert-enabled copy
// of that code which the dynamic linker binds before libfmt's, so one request with a byte such as
// 0xa4 in a value aborted the whole agent (found by tests/fuzz/pyroscope_folded).
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace profkit {

struct Quoted {
  explicit Quoted(std::string_view text) : text(text) {}
  std::string_view text;
};

// "text" with \" \\ \n \r \t, and \xNN for every other byte outside printable ASCII.
std::string QuoteText(std::string_view text);

}  // namespace profkit

template <>
struct fmt::formatter<profkit::Quoted> {
  constexpr auto parse(fmt::format_parse_context& context) { return context.begin(); }
  template <typename Context>
  auto format(const profkit::Quoted& quoted, Context& context) const {
    const std::string text = profkit::QuoteText(quoted.text);
    return std::copy(text.begin(), text.end(), context.out());
  }
};
