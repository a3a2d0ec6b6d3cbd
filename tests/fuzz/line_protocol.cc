// profiling_metrics lines carry tag values and sample type names chosen by clients (pushed event
// tags, Pyroscope labels, pprof sample types). A line the Dataway cannot split the way profkit
// meant would lose the point or move text between tags and fields, so this target checks the
// escaping against the line-protocol scanner's rule (a backslash takes the next byte with it; an
// unescaped ' ' separates measurement+tags, fields and time, an unescaped ',' separates tags or
// fields, the first unescaped '=' a key from its value): every tag and field profkit kept comes
// out as one non-empty key and value, on one line.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "profkit/metrics/line_protocol.h"

namespace {

// Splits at unescaped `separator`, keeping escape pairs whole.
std::vector<std::string_view> SplitUnescaped(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '\\') {
      i += 2;
    } else if (text[i] == separator) {
      pieces.push_back(text.substr(start, i - start));
      start = ++i;
    } else {
      ++i;
    }
  }
  pieces.push_back(text.substr(start > text.size() ? text.size() : start));
  return pieces;
}

// Every piece is key=value with both sides non-empty (or, for fields, the value a number).
void CheckPairs(const std::vector<std::string_view>& pieces, size_t first) {
  for (size_t i = first; i < pieces.size(); ++i) {
    const std::vector<std::string_view> sides = SplitUnescaped(pieces[i], '=');
    if (sides.size() != 2 || sides[0].empty() || sides[1].empty()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  profkit::metrics::Point point;
  point.measurement = "profiling_metrics";
  const size_t tags = input.ConsumeIntegralInRange<size_t>(0, 6);
  for (size_t i = 0; i < tags; ++i) {
    std::string key = input.ConsumeRandomLengthString(32);
    std::string value = input.ConsumeRandomLengthString(64);
    point.tags.emplace_back(std::move(key), std::move(value));
  }
  const size_t fields = input.ConsumeIntegralInRange<size_t>(0, 4);
  for (size_t i = 0; i < fields; ++i) {
    profkit::metrics::Field field;
    field.key = input.ConsumeRandomLengthString(32);
    if (input.ConsumeBool()) {
      field.value = input.ConsumeIntegral<int64_t>();
    } else {
      field.value = input.ConsumeFloatingPoint<double>();
    }
    point.fields.push_back(std::move(field));
  }
  point.time_unix_nanos = input.ConsumeIntegral<int64_t>();

  const std::string line = profkit::metrics::FormatLine(point);
  if (line.empty()) return 0;
  // One line: only the final newline, no carriage return.
  if (line.back() != '\n' || line.find_first_of("\r\n") != line.size() - 1) std::abort();
  const std::string_view body(line.data(), line.size() - 1);
  const std::vector<std::string_view> sections = SplitUnescaped(body, ' ');
  if (sections.size() != 3) std::abort();
  const std::vector<std::string_view> head = SplitUnescaped(sections[0], ',');
  if (head[0] != "profiling_metrics") std::abort();
  CheckPairs(head, 1);
  CheckPairs(SplitUnescaped(sections[1], ','), 0);
  return 0;
}
