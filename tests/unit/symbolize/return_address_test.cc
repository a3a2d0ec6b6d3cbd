// NativeSymbolizer::ReturnAddressOffsetFromSp on fixtures whose generated code the test reads back
// with objdump, so the expectations follow the instructions this toolchain emitted.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "elf_file.h"
#include "fixture_process.h"
#include "profkit/symbolize/native_symbolizer.h"

namespace profkit::symbolize {
namespace {

using testing::CommandOutput;
using testing::FindMapping;

struct Instruction {
  uint64_t address;  // ELF virtual address
  std::string text;  // e.g. "mov %rsp,%rbp", whitespace collapsed
};

std::string CollapseSpaces(const std::string& s) {
  std::istringstream words(s);
  std::string out;
  for (std::string word; words >> word;) out += (out.empty() ? "" : " ") + word;
  return out;
}

// The instructions of `function` in `path` as objdump disassembles them.
std::vector<Instruction> Disassemble(const std::string& path, const std::string& function) {
  const std::string output =
      CommandOutput(std::string(OBJDUMP_PATH) + " -d --no-show-raw-insn --disassemble=" + function +
                    " '" + path + "'");
  std::vector<Instruction> instructions;
  std::istringstream lines(output);
  bool inside = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("<" + function + ">:") != std::string::npos) {
      inside = true;
      continue;
    }
    const size_t colon = line.find(":\t");
    if (!inside || colon == std::string::npos) continue;
    instructions.push_back(
        {std::stoull(line.substr(0, colon), nullptr, 16), CollapseSpaces(line.substr(colon + 2))});
  }
  EXPECT_FALSE(instructions.empty()) << function << " not found in " << path;
  return instructions;
}

size_t IndexOf(const std::vector<Instruction>& instructions, const std::string& text) {
  for (size_t i = 0; i < instructions.size(); ++i) {
    if (instructions[i].text == text) return i;
  }
  ADD_FAILURE() << "no \"" << text << "\"";
  return 0;
}

// File offset of the ELF virtual address `address`, through the file's PT_LOAD segments.
uint64_t FileOffset(const std::string& path, uint64_t address) {
  auto file = ElfFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status().message();
  if (!file.ok()) return 0;
  for (const LoadSegment& s : (*file)->segments()) {
    if (address >= s.vaddr && address - s.vaddr < s.file_size) return address - s.vaddr + s.offset;
  }
  ADD_FAILURE() << std::hex << address << " is not in a load segment of " << path;
  return 0;
}

class ReturnAddressTest : public ::testing::Test {
 protected:
  uint32_t Add(const std::string& path) {
    auto id = symbolizer_.AddModule({1, ++next_inode_}, path, {path});
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? *id : 0;
  }
  std::optional<uint64_t> OffsetAt(uint32_t id, const std::string& path, uint64_t address) {
    return symbolizer_.ReturnAddressOffsetFromSp(id, FileOffset(path, address));
  }

  // Frameless leaf, and a framed function through prologue, body and epilogue.
  void ExpectFixtureRules(const std::string& path) {
    const uint32_t id = Add(path);
    const auto leaf = Disassemble(path, "cfi_leaf");
    for (const Instruction& insn : leaf) {
      SCOPED_TRACE(insn.text);
      ASSERT_EQ(insn.text.find("%rbp"), std::string::npos) << "the leaf is not frameless";
      ASSERT_EQ(insn.text.find("push"), std::string::npos) << "the leaf saves registers";
      // CFA = RSP + 8 throughout: the return address is at [RSP].
      EXPECT_EQ(OffsetAt(id, path, insn.address), 0u);
    }

    const auto framed = Disassemble(path, "cfi_framed");
    const size_t push = IndexOf(framed, "push %rbp");
    const size_t mov = IndexOf(framed, "mov %rsp,%rbp");
    ASSERT_EQ(mov, push + 1);
    ASSERT_LT(mov + 1, framed.size());
    EXPECT_EQ(OffsetAt(id, path, framed.front().address), 0u);
    EXPECT_EQ(OffsetAt(id, path, framed[push].address), 0u);
    // After push %rbp: CFA = RSP + 16, the return address is above the saved RBP.
    EXPECT_EQ(OffsetAt(id, path, framed[mov].address), 8u);
    const uint64_t misses = symbolizer_.counters().cfi_misses;
    // CFA = RBP + 16 from here to the epilogue: the frame-pointer walk is right.
    EXPECT_EQ(OffsetAt(id, path, framed[mov + 1].address), std::nullopt);
    EXPECT_EQ(symbolizer_.counters().cfi_misses, misses) << "an RBP-based frame is not a miss";
    // At the final ret, after pop %rbp (or leave), CFA is RSP + 8 again.
    ASSERT_EQ(framed.back().text, "ret");
    EXPECT_EQ(OffsetAt(id, path, framed.back().address), 0u);
  }

  NativeSymbolizer symbolizer_;
  uint64_t next_inode_ = 0;
};

TEST_F(ReturnAddressTest, EhFrame) { ExpectFixtureRules(CFI_EH_FRAME); }

TEST_F(ReturnAddressTest, DebugFrameWithoutEhFrame) { ExpectFixtureRules(CFI_DEBUG_FRAME); }

TEST_F(ReturnAddressTest, NoCallFrameInformationIsAMiss) {
  const uint32_t id = Add(CFI_NONE);
  const auto leaf = Disassemble(CFI_NONE, "cfi_leaf");
  EXPECT_EQ(OffsetAt(id, CFI_NONE, leaf.front().address), std::nullopt);
  EXPECT_EQ(symbolizer_.counters().cfi_lookups, 1u);
  EXPECT_EQ(symbolizer_.counters().cfi_misses, 1u);
}

TEST_F(ReturnAddressTest, UnknownModuleAndUnmappedOffsetMiss) {
  const uint32_t id = Add(CFI_EH_FRAME);
  EXPECT_EQ(symbolizer_.ReturnAddressOffsetFromSp(0, 0x1000), std::nullopt);
  EXPECT_EQ(symbolizer_.ReturnAddressOffsetFromSp(id + 1, 0x1000), std::nullopt);
  EXPECT_EQ(symbolizer_.ReturnAddressOffsetFromSp(id, uint64_t{1} << 40), std::nullopt);
  EXPECT_EQ(symbolizer_.counters().cfi_lookups, 3u);
  EXPECT_EQ(symbolizer_.counters().cfi_misses, 3u);
}

// The case that motivates the lookup: libc's syscall wrappers have no frame. dlsym on libc itself
// skips sanitizer interceptors of read.
TEST_F(ReturnAddressTest, LibcSyscallWrapperEntry) {
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(libc, nullptr) << dlerror();
  const uint64_t read_address = reinterpret_cast<uint64_t>(dlsym(libc, "read"));
  dlclose(libc);
  ASSERT_NE(read_address, 0u);
  const testing::Mapping m = FindMapping(0, read_address);
  auto id = symbolizer_.AddModule(m.key, m.path, {m.path});
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(symbolizer_.ReturnAddressOffsetFromSp(*id, m.FileOffset(read_address)), 0u);
  EXPECT_EQ(symbolizer_.counters().cfi_misses, 0u);
}

}  // namespace
}  // namespace profkit::symbolize
