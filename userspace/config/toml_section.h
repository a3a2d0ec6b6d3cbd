// Typed reads of one TOML table that record every node they look at, so that UnknownKeys() can
// report whatever no reader asked for. Adding a config key is one read call; the unknown-key
// report follows by itself.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "profkit/common/status.h"

namespace profkit::config {

using VisitedNodes = std::unordered_set<const toml::node*>;

class TomlSection {
 public:
  // `table` may be null (the section is absent: every read keeps the default). `visited` must
  // outlive the section.
  TomlSection(const toml::table* table, std::string path, VisitedNodes* visited);

  // The sub-table `key`; absent is an empty section, another type is an error.
  Result<TomlSection> Table(std::string_view key) const;

  // Each read returns `fallback` when the key is absent; errors name the dotted key.
  Result<std::string> String(std::string_view key, std::string fallback) const;
  // nullopt when the key is absent (a default decided elsewhere, e.g. from the environment).
  Result<std::optional<std::string>> OptionalString(std::string_view key) const;
  Result<bool> Bool(std::string_view key, bool fallback) const;
  Result<int> Int(std::string_view key, int64_t min, int64_t max, int fallback) const;
  // A Go-style duration string (see duration.h) within [min, max].
  Result<std::chrono::nanoseconds> Duration(std::string_view key, std::chrono::nanoseconds min,
                                            std::chrono::nanoseconds max,
                                            std::chrono::nanoseconds fallback) const;

  // The tables of the array of tables `key` ([[key]]); absent is none. Sections are named
  // "<key path>[<index>]".
  Result<std::vector<TomlSection>> TableArray(std::string_view key) const;
  // An array of strings; `fallback` when absent.
  Result<std::vector<std::string>> StringArray(std::string_view key,
                                               std::vector<std::string> fallback) const;
  // A sub-table of free-form keys with string values (e.g. tags), in key order; none when absent.
  Result<std::vector<std::pair<std::string, std::string>>> StringMap(std::string_view key) const;

  // "ebpf.sample_rate" for key "sample_rate" of section "ebpf".
  std::string KeyPath(std::string_view key) const;
  // The section's own dotted path, e.g. "inputs.profile[0].go[1]".
  const std::string& path() const { return path_; }

 private:
  // The node at `key` (null when absent), marked as visited.
  const toml::node* Get(std::string_view key) const;
  // "<key path>: expected <expected>, got <a/an type>"
  Status TypeError(std::string_view key, std::string_view expected, const toml::node& node) const;

  const toml::table* table_;
  std::string path_;
  VisitedNodes* visited_;
};

// One message per node of `root` that was not visited, in key order, naming the full dotted key:
// "unknown key 'ebpf.sample_rat'" or "unknown table 'ebpff'". Visited tables are searched
// recursively, as are the tables inside visited arrays ("inputs.profile[1].x").
std::vector<std::string> UnknownKeys(const toml::table& root, const VisitedNodes& visited);

}  // namespace profkit::config
