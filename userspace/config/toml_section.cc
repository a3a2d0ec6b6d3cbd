#include "toml_section.h"

#include <algorithm>

#include "profkit/config/duration.h"

namespace profkit::config {
namespace {

std::string_view TypeWithArticle(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// Limits in messages read like the config: "1h", not "3600000000000ns".
std::string FormatLimit(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  if (d == 0ns) return "0s";
  if (d % hours(1) == 0ns) return fmt::format("{}h", duration_cast<hours>(d).count());
  if (d % minutes(1) == 0ns) return fmt::format("{}m", duration_cast<minutes>(d).count());
  if (d % seconds(1) == 0ns) return fmt::format("{}s", duration_cast<seconds>(d).count());
  if (d % 1ms == 0ns) return fmt::format("{}ms", duration_cast<milliseconds>(d).count());
  return fmt::format("{}ns", d.count());
}

std::string JoinPath(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

void CollectUnknown(const toml::table& table, const std::string& path, const VisitedNodes& visited,
                    std::vector<std::string>* out) {
  for (const auto& [key, node] : table) {
    const std::string key_path = JoinPath(path, key.str());
    if (!visited.contains(&node)) {
      out->push_back(fmt::format("unknown {} '{}'", node.is_table() ? "table" : "key", key_path));
    } else if (const toml::table* sub = node.as_table()) {
      CollectUnknown(*sub, key_path, visited, out);
    } else if (const toml::array* array = node.as_array()) {
      for (size_t i = 0; i < array->size(); ++i) {
        if (const toml::table* element = array->get(i)->as_table()) {
          CollectUnknown(*element, fmt::format("{}[{}]", key_path, i), visited, out);
        }
      }
    }
  }
}

}  // namespace

TomlSection::TomlSection(const toml::table* table, std::string path, VisitedNodes* visited)
    : table_(table), path_(std::move(path)), visited_(visited) {}

std::string TomlSection::KeyPath(std::string_view key) const { return JoinPath(path_, key); }

const toml::node* TomlSection::Get(std::string_view key) const {
  if (table_ == nullptr) return nullptr;
  const toml::node* node = table_->get(key);
  if (node != nullptr) visited_->insert(node);
  return node;
}

Status TomlSection::TypeError(std::string_view key, std::string_view expected,
                              const toml::node& node) const {
  return Status::InvalidInputf("{}: expected {}, got {}", KeyPath(key), expected,
                               TypeWithArticle(node.type()));
}

Result<TomlSection> TomlSection::Table(std::string_view key) const {
  const toml::node* node = Get(key);
  if (node == nullptr) return TomlSection(nullptr, KeyPath(key), visited_);
  if (!node->is_table()) return TypeError(key, "a table", *node);
  return TomlSection(node->as_table(), KeyPath(key), visited_);
}

Result<std::string> TomlSection::String(std::string_view key, std::string fallback) const {
  const toml::node* node = Get(key);
  if (node == nullptr) return fallback;
  if (!node->is_string()) return TypeError(key, "a string", *node);
  return node->as_string()->get();
}

Result<std::optional<std::string>> TomlSection::OptionalString(std::string_view key) const {
  const toml::node* node = Get(key);
  if (node == nullptr) return std::optional<std::string>();
  if (!node->is_string()) return TypeError(key, "a string", *node);
  return std::optional<std::string>(node->as_string()->get());
}

Result<bool> TomlSection::Bool(std::string_view key, bool fallback) const {
  const toml::node* node = Get(key);
  if (node == nullptr) return fallback;
  if (!node->is_boolean()) return TypeError(key, "a boolean (true or false)", *node);
  return node->as_boolean()->get();
}

Result<int> TomlSection::Int(std::string_view key, int64_t min, int64_t max, int fallback) const {
  const toml::node* node = Get(key);
  if (node == nullptr) return fallback;
  if (!node->is_integer()) return TypeError(key, "an integer", *node);
  const int64_t value = node->as_integer()->get();
  if (value < min || value > max) {
    return Status::InvalidInputf("{}: must be between {} and {}, got {}", KeyPath(key), min, max,
                                 value);
  }
  return static_cast<int>(value);
}

Result<std::chrono::nanoseconds> TomlSection::Duration(std::string_view key,
                                                       std::chrono::nanoseconds min,
                                                       std::chrono::nanoseconds max,
                                                       std::chrono::nanoseconds fallback) const {
  const toml::node* node = Get(key);
  if (node == nullptr) return fallback;
  if (!node->is_string()) return TypeError(key, "a duration string such as \"60s\"", *node);
  const std::string& text = node->as_string()->get();
  Result<std::chrono::nanoseconds> value = ParseDuration(text);
  if (!value.ok()) return value.status().WithContext(KeyPath(key));
  if (*value < min || *value > max) {
    return Status::InvalidInputf("{}: must be between {} and {}, got \"{}\"", KeyPath(key),
                                 FormatLimit(min), FormatLimit(max), text);
  }
  return *value;
}

Result<std::vector<TomlSection>> TomlSection::TableArray(std::string_view key) const {
  std::vector<TomlSection> out;
  const toml::node* node = Get(key);
  if (node == nullptr) return out;
  const toml::array* array = node->as_array();
  if (array == nullptr || !array->is_array_of_tables()) {
    return TypeError(key, "an array of tables ([[" + KeyPath(key) + "]])", *node);
  }
  for (size_t i = 0; i < array->size(); ++i) {
    out.emplace_back(array->get(i)->as_table(), fmt::format("{}[{}]", KeyPath(key), i), visited_);
  }
  return out;
}

Result<std::vector<std::string>> TomlSection::StringArray(std::string_view key,
                                                          std::vector<std::string> fallback) const {
  const toml::node* node = Get(key);
  if (node == nullptr) return fallback;
  const toml::array* array = node->as_array();
  if (array == nullptr) return TypeError(key, "an array of strings", *node);
  std::vector<std::string> values;
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::node* element = array->get(i);
    if (!element->is_string()) {
      return TypeError(fmt::format("{}[{}]", key, i), "a string", *element);
    }
    values.push_back(element->as_string()->get());
  }
  return values;
}

Result<std::vector<std::pair<std::string, std::string>>> TomlSection::StringMap(
    std::string_view key) const {
  PROFKIT_ASSIGN_OR_RETURN(const TomlSection section, Table(key));
  std::vector<std::pair<std::string, std::string>> out;
  if (section.table_ == nullptr) return out;
  for (const auto& [name, value] : *section.table_) {
    visited_->insert(&value);
    if (!value.is_string()) return section.TypeError(name.str(), "a string", value);
    out.emplace_back(std::string(name.str()), value.as_string()->get());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> UnknownKeys(const toml::table& root, const VisitedNodes& visited) {
  std::vector<std::string> out;
  CollectUnknown(root, "", visited, &out);
  return out;
}

}  // namespace profkit::config
