// The DWARF inline chains of an optimized C++ binary (this test, built with the project's own
// flags: templates and the standard library inlined many levels deep) agree with LLVM's
// addr2line on every sampled address. (binutils' addr2line is no reference: it names the
// innermost inlined frame after the containing function.)
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fixture_process.h"
#include "profkit/symbolize/native_symbolizer.h"

namespace profkit::symbolize {
namespace {

using testing::CommandOutput;
using testing::FindMapping;
using testing::Mapping;

// Addresses spread over this binary's executable mapping.
constexpr int kAddresses = 400;

struct ExpectedFrame {
  std::string function;
  int64_t line;
};

// llvm-addr2line -a -f -i prints, per address, "0x<address>" then (function, file:line) pairs,
// innermost first; the line may carry " (discriminator N)".
std::vector<std::vector<ExpectedFrame>> ParseAddr2line(const std::string& output) {
  std::vector<std::vector<ExpectedFrame>> chains;
  std::istringstream in(output);
  std::string function;
  std::string location;
  while (std::getline(in, function)) {
    if (function.rfind("0x", 0) == 0) {
      chains.emplace_back();
      continue;
    }
    if (!std::getline(in, location) || chains.empty()) break;
    const size_t colon = location.rfind(':', location.find(" (discriminator"));
    const std::string line = colon == std::string::npos ? "0" : location.substr(colon + 1);
    chains.back().push_back({function, line[0] == '?' ? 0 : std::stoll(line)});
  }
  return chains;
}

// Mangled names are compared, not demangled ones: libiberty and LLVM 14 demangle differently.
// The symbol table names clones ("f.cold", "f.constprop.0") where DWARF names the function, and
// either of a constructor's or destructor's aliases (C1/C2/C4, D0/D1/D2: one body), followed by
// the end of the name (E), template arguments (I, a constructor template) or an ABI tag (B).
std::string Canonical(const std::string& name) {
  const size_t dot = name.find('.');
  std::string out = dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
  for (size_t i = 0; i + 2 < out.size(); ++i) {
    const bool structor =
        (out[i] == 'C' && (out[i + 1] == '1' || out[i + 1] == '2' || out[i + 1] == '4')) ||
        (out[i] == 'D' && (out[i + 1] == '0' || out[i + 1] == '1' || out[i + 1] == '2'));
    const char next = out[i + 2];
    if (structor && (next == 'E' || next == 'I' || next == 'B')) out[i + 1] = '*';
  }
  return out;
}

bool SameFunction(const std::string& ours, const std::string& theirs) {
  const std::string a = Canonical(ours);
  const std::string b = Canonical(theirs);
  if (a == b) return true;
  // A function without a DWARF linkage name: one side may print the bare DW_AT_name where the
  // other names it from the ELF symbol, whose mangling contains it.
  const bool a_mangled = a.rfind("_Z", 0) == 0;
  const bool b_mangled = b.rfind("_Z", 0) == 0;
  return (a_mangled && !b_mangled && a.find(b) != std::string::npos) ||
         (b_mangled && !a_mangled && b.find(a) != std::string::npos);
}

// The start addresses of the functions the symbol table gives several names: GCC's identical code
// folding (-fipa-icf, on at -O2) keeps one body for identical functions, such as the clones of a
// template for different arguments, and names it after each. The outermost frame is named from
// the symbol table and llvm-addr2line names it from DWARF, so either may pick any of them.
std::set<uint64_t> FoldedFunctions(const std::string& path, std::map<uint64_t, int>& starts) {
  std::istringstream in(CommandOutput("nm --defined-only " + path));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string address;
    std::string type;
    if (!(fields >> address >> type) || (type != "t" && type != "T" && type != "W")) continue;
    ++starts[std::stoull(address, nullptr, 16)];
  }
  std::set<uint64_t> folded;
  for (const auto& [start, names] : starts) {
    if (names > 1) folded.insert(start);
  }
  return folded;
}

TEST(InlineChainTest, AgreesWithAddr2line) {
  const Mapping m = FindMapping(0, reinterpret_cast<uint64_t>(&ParseAddr2line));
  NativeSymbolizer symbolizer;
  auto id = symbolizer.AddModule(m.key, m.path, {m.path});
  ASSERT_TRUE(id.ok()) << id.status().message();

  std::vector<uint64_t> offsets;
  std::string command = std::string(LLVM_ADDR2LINE_PATH) + " -a -f -i -e " + m.path;
  // The mapping ends on a page boundary, up to a page past the end of the segment's file bytes.
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t step = (m.end - m.start - page) / kAddresses;
  for (int i = 0; i < kAddresses; ++i) {
    const uint64_t offset = m.FileOffset(m.start + static_cast<uint64_t>(i) * step);
    const std::optional<uint64_t> address = symbolizer.AddressOfFileOffset(*id, offset);
    ASSERT_TRUE(address.has_value());
    offsets.push_back(offset);
    command += " 0x" + fmt::format("{:x}", *address);
  }
  const std::vector<std::vector<ExpectedFrame>> expected = ParseAddr2line(CommandOutput(command));
  ASSERT_EQ(expected.size(), offsets.size());
  std::map<uint64_t, int> function_starts;
  const std::set<uint64_t> folded = FoldedFunctions(m.path, function_starts);

  int compared = 0;
  int inlined = 0;
  for (size_t i = 0; i < offsets.size(); ++i) {
    // No function or no line covers the address in DWARF (padding, PLT, _init): the symbol
    // table answers that, not the inline chains under test. Nor do static constructors the
    // compiler generates (the sanitizers' _sub_I_00099_1): their lines lie outside every unit's
    // ranges, and only a search of every line table finds them.
    if (expected[i].empty() || expected[i][0].function == "??" || expected[i][0].line == 0 ||
        expected[i][0].function.find("_sub_I_") != std::string::npos) {
      continue;
    }
    const std::vector<SymbolizedLine> frames = symbolizer.Symbolize(*id, offsets[i]);
    const uint64_t address = *symbolizer.AddressOfFileOffset(*id, offsets[i]);
    const auto function = function_starts.upper_bound(address);
    const bool outermost_folded =
        function != function_starts.begin() && folded.contains(std::prev(function)->first);
    std::string got;
    std::string want;
    bool same = frames.size() == expected[i].size();
    for (size_t f = 0; f < frames.size(); ++f) {
      got += fmt::format("{}:{} < ", frames[f].system_name, frames[f].line);
      if (!same) continue;
      const ExpectedFrame& e = expected[i][f];
      const bool any_name = outermost_folded && f + 1 == frames.size();
      same =
          frames[f].line == e.line && (any_name || SameFunction(frames[f].system_name, e.function));
    }
    for (const ExpectedFrame& f : expected[i]) want += fmt::format("{}:{} < ", f.function, f.line);
    EXPECT_TRUE(same) << "file offset 0x" << std::hex << offsets[i] << "\n profkit:   " << got
                      << "\n addr2line: " << want;
    ++compared;
    inlined += expected[i].size() > 1;
  }
  EXPECT_GE(compared, kAddresses / 2);
  EXPECT_GE(inlined, compared / 10) << "too few inlined chains to mean anything";
}

}  // namespace
}  // namespace profkit::symbolize
