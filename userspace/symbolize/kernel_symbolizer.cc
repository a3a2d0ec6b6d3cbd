#include "profkit/symbolize/kernel_symbolizer.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <string_view>
#include <unordered_map>

#include "profkit/common/file_util.h"

namespace profkit::symbolize {
namespace {

// Kernel symbol names are at most KSYM_NAME_LEN (512) bytes; longer lines are malformed.
constexpr size_t kMaxNameBytes = 512;

// Symbols that mark where kernel text ends rather than start a function: addresses from them up
// to the next symbol (init data, the gap before modules) are not code.
bool IsEndMarker(std::string_view name) { return name == "_etext" || name == "_einittext"; }

std::string_view NextField(std::string_view& line) {
  const size_t start = line.find_first_not_of(" \t");
  if (start == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(start);
  const size_t end = std::min(line.find_first_of(" \t"), line.size());
  const std::string_view field = line.substr(0, end);
  line.remove_prefix(end);
  return field;
}

}  // namespace

Result<KernelSymbolizer> KernelSymbolizer::Load(const std::string& kallsyms_path) {
  PROFKIT_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(kallsyms_path, kMaxKallsymsBytes));
  KernelSymbolizer symbolizer;
  std::unordered_map<std::string, uint32_t> groups;  // "[module]" → group
  size_t text_symbols = 0;
  size_t line_number = 0;
  std::string_view rest(text);
  while (!rest.empty()) {
    const size_t newline = std::min(rest.find('\n'), rest.size());
    std::string_view line = rest.substr(0, newline);
    rest.remove_prefix(std::min(newline + 1, rest.size()));
    ++line_number;
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;

    const std::string_view address_field = NextField(line);
    const std::string_view type = NextField(line);
    const std::string_view name = NextField(line);
    const std::string_view module = NextField(line);
    uint64_t address = 0;
    const auto parsed = std::from_chars(address_field.data(),
                                        address_field.data() + address_field.size(), address, 16);
    if (parsed.ec != std::errc() || parsed.ptr != address_field.data() + address_field.size() ||
        type.size() != 1 || name.empty() || name.size() > kMaxNameBytes) {
      return Status::InvalidInputf("{}:{}: malformed line", kallsyms_path, line_number);
    }
    if (type != "t" && type != "T") continue;
    ++text_symbols;
    if (address == 0) continue;

    uint32_t group = 0;
    if (!module.empty()) {
      group = groups.try_emplace(std::string(module), static_cast<uint32_t>(groups.size() + 1))
                  .first->second;
    }
    if (symbolizer.names_.size() + name.size() + 1 > std::numeric_limits<uint32_t>::max()) {
      return Status::TooLargef("{}: symbol names exceed 4 GiB", kallsyms_path);
    }
    symbolizer.symbols_.push_back(
        {address, static_cast<uint32_t>(symbolizer.names_.size()), group});
    symbolizer.names_.append(name);
    symbolizer.names_.push_back('\0');
  }
  if (text_symbols > 0 && symbolizer.symbols_.empty()) {
    return Status::PermissionDeniedf(
        "{}: kernel symbol addresses are hidden (all zero): run with CAP_SYSLOG or set "
        "kernel.kptr_restrict=0",
        kallsyms_path);
  }
  if (symbolizer.symbols_.empty()) return Status::NotFoundf("{}: no text symbols", kallsyms_path);
  std::stable_sort(symbolizer.symbols_.begin(), symbolizer.symbols_.end(),
                   [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
  // Aliases share an address (_stext, _text and the first function); the name with the fewest
  // leading underscores is the function rather than a linker marker, else the first listed.
  auto underscores = [&](const Symbol& s) {
    return std::string_view(symbolizer.names_.data() + s.name_offset).find_first_not_of('_');
  };
  std::vector<Symbol> unique;
  unique.reserve(symbolizer.symbols_.size());
  for (const Symbol& s : symbolizer.symbols_) {
    if (!unique.empty() && unique.back().address == s.address) {
      if (underscores(s) < underscores(unique.back())) unique.back() = s;
      continue;
    }
    unique.push_back(s);
  }
  symbolizer.symbols_ = std::move(unique);
  symbolizer.symbols_.shrink_to_fit();
  symbolizer.names_.shrink_to_fit();
  return symbolizer;
}

std::optional<std::string> KernelSymbolizer::Symbolize(uint64_t address) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](uint64_t a, const Symbol& s) { return a < s.address; });
  if (it == symbols_.begin()) return std::nullopt;
  const Symbol& symbol = *(it - 1);
  // The next symbol of the same image bounds this one; the last one is bounded by a constant.
  // Images do not interleave, so the next symbol of the same group is the next one, if any.
  const bool last_of_group = it == symbols_.end() || it->group != symbol.group;
  if (last_of_group && address - symbol.address >= kMaxLastSymbolBytes) return std::nullopt;
  std::string name(names_.data() + symbol.name_offset);
  if (IsEndMarker(name)) return std::nullopt;
  return name;
}

}  // namespace profkit::symbolize
