// InfluxDB line protocol, the body of Dataway's /v1/write/metric:
//   <measurement>[,<tag>=<value>...] <field>=<value>[,...] <timestamp ns>
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace profkit::metrics {

struct Field {
  std::string key;
  std::variant<int64_t, double> value;  // integer fields get the "i" suffix
};

struct Point {
  std::string measurement;
  std::vector<std::pair<std::string, std::string>> tags;
  std::vector<Field> fields;
  int64_t time_unix_nanos = 0;
};

// One line, '\n'-terminated, "" when the point has no field left. Escaping follows InfluxDB's
// rules: ',' and ' ' in the measurement, ',', '=' and ' ' in tag keys, tag values and field keys,
// each preceded by '\'. The format cannot carry line breaks, so '\n' and '\r' become ' ' (escaped),
// nor a trailing '\' (it would escape the next separator), which is dropped;
// a tag with an empty key or value is left out (InfluxDB rejects it), and so is a non-finite
// float field. Tags are written sorted by key, as InfluxDB recommends.
std::string FormatLine(const Point& point);

}  // namespace profkit::metrics
