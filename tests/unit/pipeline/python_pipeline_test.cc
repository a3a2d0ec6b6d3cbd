// SamplePipeline on a CPython process: the host's real /usr/bin/python3.11 (its symbols find the
// interpreter, its version and the eval loop), mapped in a fake /proc, with code objects in fake
// memory laid out with 3.11's offsets. The walker's Python frames replace the eval-loop frame.
#include <elf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fstream>
#include <unordered_set>

#include "../python/fake_memory.h"
#include "profkit/pipeline/sample_pipeline.h"
#include "testing/self_process_tree.h"

namespace profkit::pipeline {
namespace {

using python::testing::AsciiStr;
using python::testing::BorrowedMemory;
using python::testing::BytesObject;
using python::testing::CodeFields;
using python::testing::CodeObjectBytes;
using python::testing::FakeMemory;

constexpr char kPython[] = "/usr/bin/python3.11";
constexpr uint32_t kPid = 200;
constexpr uint64_t kLoadBase = 0x555500000000;
constexpr uint64_t kCodeHandler = 0x7f0000010000;
constexpr uint64_t kCodeModule = 0x7f0000020000;
constexpr uint64_t kLineTable = 0x7f0000030000;

struct CodeSegment {
  uint64_t vaddr = 0;  // page-aligned
  uint64_t offset = 0;
  uint64_t size = 0;
};

// The executable PT_LOAD of `path`, page-aligned as the loader maps it.
std::optional<CodeSegment> ExecutableSegment(const char* path) {
  std::ifstream file(path, std::ios::binary);
  Elf64_Ehdr header{};
  if (!file.read(reinterpret_cast<char*>(&header), sizeof(header))) return std::nullopt;
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr phdr{};
    file.seekg(static_cast<std::streamoff>(header.e_phoff + i * sizeof(phdr)));
    if (!file.read(reinterpret_cast<char*>(&phdr), sizeof(phdr))) return std::nullopt;
    if (phdr.p_type != PT_LOAD || (phdr.p_flags & PF_X) == 0) continue;
    const uint64_t skew = phdr.p_vaddr & 0xfff;
    return CodeSegment{.vaddr = phdr.p_vaddr - skew,
                       .offset = phdr.p_offset - skew,
                       .size = (phdr.p_filesz + skew + 0xfff) & ~uint64_t{0xfff}};
  }
  return std::nullopt;
}

class RecordingRegistry final : public sampling::PythonProcessRegistry {
 public:
  Status RegisterPythonProcess(uint32_t pid, const profkit_python_process&) override {
    pids.insert(pid);
    return Status::Ok();
  }
  void UnregisterPythonProcess(uint32_t pid) override { pids.erase(pid); }
  std::unordered_set<uint32_t> pids;
};

class PythonPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<CodeSegment> segment = ExecutableSegment(kPython);
    ASSERT_TRUE(segment) << kPython << " (Debian's python3.11) is needed as the interpreter oracle";
    segment_ = *segment;
    struct stat st {};
    ASSERT_EQ(stat(kPython, &st), 0);
    tree_.AddProgram(kPid, "python3", kPython,
                     fmt::format("{:x}-{:x} r-xp {:08x} {:02x}:{:02x} {} {}\n", kLoadBase,
                                 kLoadBase + segment_.size, segment_.offset, major(st.st_dev),
                                 minor(st.st_dev), st.st_ino, kPython),
                     std::string("python3\0/srv/app.py\0", 20));
    offsets_ = *python::BuiltinOffsets(3, 11);
    // 3.11's location table: co_firstlineno for code unit 0, the next line for unit 1.
    memory_.Map(kLineTable,
                BytesObject(offsets_, std::vector<uint8_t>{0x80, 0x00, 0xd8, 0x08, 0x09}));
  }

  // Where `symbol` of the interpreter is in the fake process.
  uint64_t RuntimeAddress(std::string_view symbol) {
    symbolize::NativeSymbolizer symbolizer;
    struct stat st {};
    stat(kPython, &st);
    auto id = symbolizer.AddModule({.dev = st.st_dev, .inode = st.st_ino}, kPython, {kPython});
    EXPECT_TRUE(id.ok());
    const std::string_view names[] = {symbol};
    auto found = symbolizer.FindSymbols(*id, names);
    EXPECT_TRUE(found.ok() && (*found)[0]) << symbol;
    return kLoadBase + (*found)[0]->address - segment_.vaddr;
  }

  uint16_t MapCode(uint64_t address, const std::string& name, int32_t first_line) {
    const uint64_t strings = address + 0x800;
    memory_.Map(strings, AsciiStr(offsets_, name));
    memory_.Map(strings + 0x100, AsciiStr(offsets_, "/srv/app.py"));
    memory_.Map(address, CodeObjectBytes(offsets_, {.flags = 3,
                                                    .firstlineno = first_line,
                                                    .name = strings,
                                                    .qualname = strings,
                                                    .filename = strings + 0x100,
                                                    .line_table = kLineTable}));
    return profkit_python_code_checksum(0, 0, 3, static_cast<uint32_t>(first_line));
  }

  testing::SelfProcessTree tree_;
  CodeSegment segment_;
  python::CPythonOffsets offsets_;
  FakeMemory memory_;
};

TEST_F(PythonPipelineTest, PythonFramesTakeTheEvalLoopsPlace) {
  SamplePipeline pipeline(
      PipelineOptions{.proc_root = tree_.root(),
                      .kallsyms_path = tree_.root() + "/no-kallsyms",
                      .process_memory = [this](uint32_t) -> std::unique_ptr<python::MemoryReader> {
                        return std::make_unique<BorrowedMemory>(memory_);
                      }});
  RecordingRegistry registry;
  pipeline.SetPythonRegistry(&registry);
  const uint16_t handler = MapCode(kCodeHandler, "handler", 10);
  const uint16_t module = MapCode(kCodeModule, "<module>", 1);
  // Interrupted in the eval loop, called from Py_RunMain: the two Python frames of that one eval
  // loop invocation replace it, and the interpreter's frames below them go.
  pipeline.Handle(sampling::SampleRecord{
      .pid = kPid,
      .tid = kPid,
      .comm = "python3",
      .user_ips = {RuntimeAddress("_PyEval_EvalFrameDefault") + 16,
                   RuntimeAddress("Py_RunMain") + 16},
      .python_status = sampling::PythonWalkStatus::kOk,
      .python_frames = {
          {.code_object = kCodeHandler, .instruction = 1, .checksum = handler},
          {.code_object = kCodeModule, .instruction = 0, .checksum = module, .entry = true}}});
  EXPECT_TRUE(registry.pids.contains(kPid)) << "registered with the walker";
  const FlushBatch batch = pipeline.EndInterval({});
  ASSERT_EQ(batch.stacks.size(), 1u);
  EXPECT_EQ(batch.stacks[0].key.service, "app") << "a Python service is named after its script";
  EXPECT_EQ(batch.stacks[0].key.language, "python");
  EXPECT_EQ(pipeline.BuildCollapsed(batch),
            "<module> (/srv/app.py:1);handler (/srv/app.py:11) 1\n");
  EXPECT_EQ(pipeline.counters().python_stacks, 1u);
  pipeline.SetPythonRegistry(nullptr);
}

}  // namespace
}  // namespace profkit::pipeline
