// The unwind table builder against binutils' CFI interpreter: every row `readelf
// --debug-dump=frames-interp` prints must give the same CFA, saved-RBP and return-address rule in
// the table, over the row's whole address range, on real Debian libraries and on a fixture.
#include <gelf.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "profkit/unwind/unwind_table.h"

#include "profkit/unwind/packed_unwind_table.h"
#include "testing/ci.h"
#include "testing/command.h"
#include "testing/temp_dir.h"

namespace profkit::unwind {
namespace {

// One row as readelf prints it: the columns by name ("CFA", "rbp", "ra").
struct OracleRow {
  uint64_t start;
  uint64_t end;
  std::map<std::string, std::string> columns;
  bool signal;
};

struct Oracle {
  std::vector<OracleRow> rows;
  std::vector<std::pair<uint64_t, uint64_t>> fdes;
};

// Parses readelf's interpreted frames of `section` (".eh_frame" or ".debug_frame").
Oracle ReadOracle(const std::string& path, const std::string& section) {
  const auto out =
      testing::RunCommand(std::string(READELF_PATH) + " --debug-dump=frames-interp '" + path + "'");
  // readelf exits 1 on Debian's libc.so.6 while printing every frame (and nothing on stderr):
  // the rows are checked to be there instead.
  EXPECT_GE(out.exit_code, 0);
  Oracle oracle;
  std::istringstream lines(out.text);
  std::string line;
  bool in_section = false;
  struct Entry {
    bool is_cie = false;
    bool signal = false;
    uint64_t start = 0, end = 0;
    std::vector<std::string> header;
    std::vector<std::pair<uint64_t, std::vector<std::string>>> rows;
    std::string cie;
    std::string offset;
  };
  std::map<std::string, Entry> cies;
  Entry current;
  bool have_entry = false;
  auto finish = [&]() {
    if (!have_entry) return;
    have_entry = false;
    if (current.is_cie) {
      cies[current.offset] = current;
      return;
    }
    Entry rows_from = current;
    if (current.rows.empty()) {
      // No instructions: the CIE's initial row holds over the whole FDE.
      const Entry& cie = cies[current.cie];
      rows_from.header = cie.header;
      if (!cie.rows.empty()) rows_from.rows = {{current.start, cie.rows.back().second}};
    }
    rows_from.signal = cies[current.cie].signal;
    oracle.fdes.push_back({current.start, current.end});
    for (size_t i = 0; i < rows_from.rows.size(); ++i) {
      OracleRow row{rows_from.rows[i].first,
                    i + 1 < rows_from.rows.size() ? rows_from.rows[i + 1].first : current.end,
                    {},
                    rows_from.signal};
      for (size_t c = 1; c < rows_from.header.size() && c - 1 < rows_from.rows[i].second.size();
           ++c) {
        row.columns[rows_from.header[c]] = rows_from.rows[i].second[c - 1];
      }
      if (row.start < row.end) oracle.rows.push_back(row);
    }
  };
  while (std::getline(lines, line)) {
    if (line.rfind("Contents of the ", 0) == 0) {
      finish();
      in_section = line.find(section + " section") != std::string::npos;
      continue;
    }
    if (!in_section || line.empty()) continue;
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string word; words >> word;) {
      // A register rule prints as "r10 (r10)": one column.
      if (word.front() == '(' && !w.empty()) {
        w.back() += " " + word;
      } else {
        w.push_back(word);
      }
    }
    if (w.size() >= 4 && (w[3] == "CIE" || w[3] == "FDE")) {
      finish();
      current = Entry{};
      have_entry = true;
      current.is_cie = w[3] == "CIE";
      if (current.is_cie) {
        // 00000000 0000000000000014 00000000 CIE "zR" cf=1 df=-8 ra=16
        current.signal = w.size() > 4 && w[4].find('S') != std::string::npos;
        current.offset = w[0];
      } else {
        for (const std::string& word : w) {
          if (word.rfind("cie=", 0) == 0) current.cie = word.substr(4);
          if (word.rfind("pc=", 0) == 0) {
            const auto dots = word.find("..");
            current.start = std::stoull(word.substr(3, dots - 3), nullptr, 16);
            current.end = std::stoull(word.substr(dots + 2), nullptr, 16);
          }
        }
      }
      continue;
    }
    if (!have_entry) continue;
    if (!w.empty() && w[0] == "LOC") {
      current.header = w;
    } else if (!current.header.empty() && w.size() >= 2 && w[0].size() == 16 &&
               w[0].find_first_not_of("0123456789abcdef") == std::string::npos) {
      const uint64_t loc = std::stoull(w[0], nullptr, 16);
      current.rows.push_back({loc, std::vector<std::string>(w.begin() + 1, w.end())});
    }
  }
  finish();
  return oracle;
}

std::string Column(const OracleRow& row, const std::string& name) {
  const auto it = row.columns.find(name);
  return it == row.columns.end() ? "" : it->second;
}

// The kinds the table may hold for a readelf row (expressions: PLT if it is the PLT one).
std::vector<int> ExpectedKinds(const OracleRow& row, int* rbp_offset, int* cfa_offset) {
  *rbp_offset = 0;
  *cfa_offset = -1;
  if (row.signal) return {PROFKIT_UNWIND_SIGNAL};
  const auto ra = row.columns.find("ra");
  if (ra == row.columns.end()) return {PROFKIT_UNWIND_UNSUPPORTED};
  if (ra->second == "u") return {PROFKIT_UNWIND_END};
  if (ra->second != "c-8") return {PROFKIT_UNWIND_UNSUPPORTED};
  const auto rbp = row.columns.find("rbp");
  if (rbp != row.columns.end() && rbp->second != "u" && rbp->second != "s") {
    if (rbp->second.rfind("c-", 0) != 0) return {PROFKIT_UNWIND_UNSUPPORTED};
    const int offset = -std::stoi(rbp->second.substr(2));
    if (offset % 8 != 0 || offset < -1024) return {PROFKIT_UNWIND_UNSUPPORTED};
    *rbp_offset = offset / 8;
  }
  const std::string cfa = Column(row, "CFA");
  if (cfa == "exp") {
    return *rbp_offset == 0 ? std::vector<int>{PROFKIT_UNWIND_PLT, PROFKIT_UNWIND_UNSUPPORTED}
                            : std::vector<int>{PROFKIT_UNWIND_UNSUPPORTED};
  }
  for (const auto& [name, kind] : {std::pair<std::string, int>{"rsp+", PROFKIT_UNWIND_CFA_RSP},
                                   {"rbp+", PROFKIT_UNWIND_CFA_RBP}}) {
    if (cfa.rfind(name, 0) != 0) continue;
    const long offset = std::stol(cfa.substr(4));
    if (offset < 0 || offset % 8 != 0 || offset > 0xffff * 8) return {PROFKIT_UNWIND_UNSUPPORTED};
    *cfa_offset = static_cast<int>(offset / 8);
    return {kind};
  }
  return {PROFKIT_UNWIND_UNSUPPORTED};
}

struct Agreement {
  size_t rows = 0;
  size_t plt_rows = 0;
  size_t unsupported_rows = 0;
};

// Adds to `agreement` as it goes (ASSERTs need a void function).
void ExpectAgreesWithReadelf(const std::string& path, const UnwindTable& table,
                             Agreement* agreement) {
  const Oracle oracle = ReadOracle(path, table.source);
  EXPECT_GT(oracle.rows.size(), 0u) << path;
  const std::span<const UnwindRow> rows(table.rows);
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_LT(rows[i - 1].pc, rows[i].pc) << path << ": rows not sorted at " << i;
    ASSERT_FALSE(SameRule(rows[i - 1].info, rows[i].info))
        << path << ": adjacent rows repeat at " << i;
  }
  // What the BPF walker reads: the packed pages and rows must give the same rule everywhere.
  UnwindInfoSet infos;
  Result<PackedUnwindTable> packed = PackUnwindTable(rows, infos, size_t{1} << 20);
  ASSERT_TRUE(packed.ok()) << packed.status().message();
  const auto packed_rule = [&](uint64_t pc) -> std::optional<profkit_unwind_info> {
    const std::optional<uint16_t> index = FindPackedInfo(*packed, pc);
    if (!index) return std::nullopt;
    return infos.infos().at(*index);
  };
  size_t failures = 0;
  for (const OracleRow& row : oracle.rows) {
    int rbp_offset = 0;
    int cfa_offset = 0;
    const std::vector<int> kinds = ExpectedKinds(row, &rbp_offset, &cfa_offset);
    for (const uint64_t pc : {row.start, row.end - 1}) {
      const UnwindRow* found = FindUnwindRow(rows, pc);
      ASSERT_NE(found, nullptr) << path << std::hex << " pc " << pc;
      const std::optional<profkit_unwind_info> from_pages = packed_rule(pc);
      ASSERT_TRUE(from_pages && SameRule(*from_pages, found->info))
          << path << std::hex << ": packed lookup differs at pc 0x" << pc;
      bool ok = std::find(kinds.begin(), kinds.end(), found->info.kind) != kinds.end();
      if (ok && (found->info.kind == PROFKIT_UNWIND_CFA_RSP ||
                 found->info.kind == PROFKIT_UNWIND_CFA_RBP)) {
        ok = found->info.cfa_offset == cfa_offset && found->info.rbp_offset == rbp_offset;
      }
      if (ok && found->info.kind == PROFKIT_UNWIND_PLT) {
        ok = found->info.cfa_offset == 10 || found->info.cfa_offset == 11;
      }
      if (!ok && ++failures <= 10) {
        ADD_FAILURE() << path << std::hex << ": pc 0x" << pc
                      << " readelf CFA=" << Column(row, "CFA") << " ra=" << Column(row, "ra")
                      << " rbp=" << Column(row, "rbp") << std::dec
                      << "; table kind=" << int(found->info.kind)
                      << " cfa_offset=" << found->info.cfa_offset
                      << " rbp_offset=" << int(found->info.rbp_offset);
      }
    }
    const UnwindRow* found = FindUnwindRow(rows, row.start);
    ++agreement->rows;
    if (found->info.kind == PROFKIT_UNWIND_PLT) ++agreement->plt_rows;
    if (found->info.kind == PROFKIT_UNWIND_UNSUPPORTED) ++agreement->unsupported_rows;
  }
  // Between FDEs the table must say "no CFI", never extend the previous function's last row.
  std::map<uint64_t, bool> starts;
  for (const auto& [start, end] : oracle.fdes) starts[start] = true;
  for (const auto& [start, end] : oracle.fdes) {
    if (starts.count(end) != 0) continue;
    const UnwindRow* found = FindUnwindRow(rows, end);
    ASSERT_NE(found, nullptr);
    const std::optional<profkit_unwind_info> from_pages = packed_rule(end);
    EXPECT_TRUE(!from_pages || from_pages->kind == PROFKIT_UNWIND_NONE) << std::hex << end;
    EXPECT_EQ(found->info.kind, PROFKIT_UNWIND_NONE)
        << path << std::hex << ": after FDE end 0x" << end;
  }
  EXPECT_EQ(failures, 0u) << path;
}

void ExpectFileAgrees(const std::string& path, bool expect_plt) {
  if (!std::filesystem::exists(path)) {
    if (testing::RunningInCi()) FAIL() << path << " is not installed (scripts/install-deps.sh)";
    GTEST_SKIP() << path << " is not installed";
  }
  Result<UnwindTable> table = BuildUnwindTable(path);
  ASSERT_TRUE(table.ok()) << table.status().message();
  EXPECT_EQ(table->skipped_fdes, 0u) << path;
  Agreement agreement;
  ExpectAgreesWithReadelf(path, *table, &agreement);
  if (expect_plt) {
    EXPECT_GT(agreement.plt_rows, 0u) << path;
  }
  // A real library is nearly all followable: only hand-written corners are not.
  EXPECT_LT(agreement.unsupported_rows * 100, agreement.rows) << path;
  std::printf("%s: %zu FDEs, %zu readelf rows, %zu table rows, %zu unsupported\n", path.c_str(),
              table->fde_count, agreement.rows, table->rows.size(), agreement.unsupported_rows);
}

TEST(UnwindTableTest, AgreesWithReadelfOnLibc) {
  ExpectFileAgrees("/usr/lib/x86_64-linux-gnu/libc.so.6", true);
}
TEST(UnwindTableTest, AgreesWithReadelfOnLibstdcxx) {
  ExpectFileAgrees("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", true);
}
TEST(UnwindTableTest, AgreesWithReadelfOnLiblzma) {
  ExpectFileAgrees("/usr/lib/x86_64-linux-gnu/liblzma.so.5", true);
}
TEST(UnwindTableTest, AgreesWithReadelfOnPython311) {
  ExpectFileAgrees("/usr/bin/python3.11", true);
}
TEST(UnwindTableTest, AgreesWithReadelfOnFixture) { ExpectFileAgrees(FIXTURE_EH_FRAME, true); }

TEST(UnwindTableTest, ReadsDebugFrameWhenThereIsNoEhFrame) {
  Result<UnwindTable> table = BuildUnwindTable(FIXTURE_DEBUG_FRAME);
  ASSERT_TRUE(table.ok()) << table.status().message();
  EXPECT_EQ(table->source, ".debug_frame");
  Agreement agreement;
  ExpectAgreesWithReadelf(FIXTURE_DEBUG_FRAME, *table, &agreement);
}

TEST(UnwindTableTest, MarksSignalTrampolineAndStackEnds) {
  Result<UnwindTable> table = BuildUnwindTable("/usr/lib/x86_64-linux-gnu/libc.so.6");
  ASSERT_TRUE(table.ok()) << table.status().message();
  size_t signal = 0;
  size_t end = 0;
  for (const UnwindRow& row : table->rows) {
    signal += row.info.kind == PROFKIT_UNWIND_SIGNAL;
    end += row.info.kind == PROFKIT_UNWIND_END;
  }
  EXPECT_GE(signal, 1u);  // __restore_rt
  EXPECT_GE(end, 1u);     // clone3's child, start_thread's caller
}

TEST(UnwindTableTest, LookupBelowTheFirstRowFindsNothing) {
  const std::vector<UnwindRow> rows = {{0x1000, {PROFKIT_UNWIND_CFA_RSP, 0, 1}},
                                       {0x1010, {PROFKIT_UNWIND_NONE, 0, 0}}};
  EXPECT_EQ(FindUnwindRow(rows, 0xfff), nullptr);
  EXPECT_EQ(FindUnwindRow(rows, 0x1000)->info.kind, PROFKIT_UNWIND_CFA_RSP);
  EXPECT_EQ(FindUnwindRow(rows, 0x100f)->info.kind, PROFKIT_UNWIND_CFA_RSP);
  EXPECT_EQ(FindUnwindRow(rows, 0x1010)->info.kind, PROFKIT_UNWIND_NONE);
  EXPECT_EQ(FindUnwindRow({}, 0x1010), nullptr);
}

TEST(UnwindTableTest, RejectsWhatIsNotElf) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/garbage";
  std::ofstream(path) << std::string(4096, 'x');
  Result<UnwindTable> table = BuildUnwindTable(path);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), StatusCode::kInvalidInput) << table.status().message();
  EXPECT_EQ(BuildUnwindTable(dir.path() + "/missing").status().code(), StatusCode::kNotFound);
}

TEST(UnwindTableTest, FileWithoutCfiIsNotFound) {
  // The .debug_frame fixture stripped of its debug sections has no CFI at all.
  testing::TempDir dir;
  const std::string path = dir.path() + "/no_cfi";
  ASSERT_EQ(testing::RunCommand("objcopy -R .debug_frame '" + std::string(FIXTURE_DEBUG_FRAME) +
                                "' '" + path + "'")
                .exit_code,
            0);
  EXPECT_EQ(BuildUnwindTable(path).status().code(), StatusCode::kNotFound);
}

// Corrupted CFI (random bytes over .eh_frame, a truncated file) never crashes the builder, and
// whatever it returns is still a well-formed table.
TEST(UnwindTableTest, SurvivesCorruptCfi) {
  const std::string original = "/usr/lib/x86_64-linux-gnu/liblzma.so.5";
  std::ifstream in(original, std::ios::binary);
  ASSERT_TRUE(in.good());
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Where .eh_frame lies in the file.
  const auto sections = testing::RunCommand(std::string(READELF_PATH) + " -SW '" + original +
                                            "' | awk '$2 == \".eh_frame\" {print $5, $6}'");
  std::istringstream fields(sections.text);
  std::string offset_hex, size_hex;
  fields >> offset_hex >> size_hex;
  ASSERT_FALSE(size_hex.empty()) << sections.text;
  const size_t eh_offset = std::stoul(offset_hex, nullptr, 16);
  const size_t eh_size = std::stoul(size_hex, nullptr, 16);

  testing::TempDir dir;
  std::mt19937 random(11);
  for (int round = 0; round < 40; ++round) {
    std::string corrupt = bytes;
    const int flips = 1 + round * 4;
    for (int i = 0; i < flips; ++i) {
      corrupt[eh_offset + random() % eh_size] = static_cast<char>(random());
    }
    if (round % 10 == 9) corrupt.resize(eh_offset + random() % eh_size);  // truncated
    const std::string path = dir.path() + "/corrupt" + std::to_string(round);
    std::ofstream(path, std::ios::binary) << corrupt;
    Result<UnwindTable> table = BuildUnwindTable(path);
    if (!table.ok()) continue;
    for (size_t i = 1; i < table->rows.size(); ++i) {
      ASSERT_LT(table->rows[i - 1].pc, table->rows[i].pc) << "round " << round;
    }
    for (const UnwindRow& row : table->rows) {
      ASSERT_LT(row.info.kind, PROFKIT_UNWIND_KIND_COUNT);
    }
    EXPECT_EQ(table->rows.back().info.kind, PROFKIT_UNWIND_NONE);
  }
}

TEST(UnwindTableTest, LimitsBoundTheTable) {
  UnwindTableLimits limits;
  limits.max_rows = 100;
  Result<UnwindTable> table = BuildUnwindTable("/usr/lib/x86_64-linux-gnu/libc.so.6", limits);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), StatusCode::kTooLarge);
}

// [symbols] max_section_mb: libc's .eh_frame (hundreds of KiB) is not read under a 4 KiB limit.
TEST(UnwindTableTest, CfiSectionOverTheLimitIsNotRead) {
  UnwindTableLimits limits;
  limits.max_section_bytes = 4096;
  Result<UnwindTable> table = BuildUnwindTable("/usr/lib/x86_64-linux-gnu/libc.so.6", limits);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), StatusCode::kTooLarge);
  EXPECT_NE(table.status().message().find(".eh_frame"), std::string::npos)
      << table.status().message();
}

}  // namespace
}  // namespace profkit::unwind
