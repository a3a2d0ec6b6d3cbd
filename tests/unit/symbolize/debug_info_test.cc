// Names for stripped modules from separate debug files, MiniDebugInfo and a real debuginfod
// (elfutils' server, started here on loopback). The workload is fixture_main.c built with -g; each
// test splits and strips a copy the way distributions do (objcopy --only-keep-debug, --strip-all,
// --add-gnu-debuglink; Fedora's .gnu_debugdata recipe) and places the debug file in one location.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "debug_file_finder.h"
#include "elf_file.h"
#include "fixture_process.h"
#include "profkit/symbolize/native_symbolizer.h"
#include "testing/ci.h"
#include "testing/temp_dir.h"

namespace profkit::symbolize {
namespace {

namespace fs = std::filesystem;
using testing::CommandOutput;
using testing::MarkedLine;

// The fixture's hot functions and the MARK of their first line.
const std::vector<std::pair<std::string, std::string>> kHotFunctions = {
    {"fixture_leaf", "leaf"}, {"fixture_outer", "outer"}, {"fixture_report", "report"}};

// Awaited events get this long; a passing run takes a fraction of it.
constexpr auto kAwait = std::chrono::seconds(60);

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// A stripped copy of the -g fixture and its split debug file, in one scratch directory.
struct SplitWorkload {
  std::string full;      // unstripped, -g
  std::string stripped;  // --strip-all, with a .gnu_debuglink to app.debug
  std::string debug;     // --only-keep-debug
  std::string build_id;
};

SplitWorkload Split(const std::string& dir, const std::string& name = "app",
                    const std::string& binary = FIXTURE_PIE) {
  SplitWorkload w;
  w.full = dir + "/" + name + ".full";
  w.stripped = dir + "/" + name;
  w.debug = dir + "/" + name + ".debug";
  fs::create_directories(dir);
  fs::copy_file(binary, w.full);
  CommandOutput("objcopy --only-keep-debug " + Quote(w.full) + " " + Quote(w.debug));
  CommandOutput("objcopy --strip-all " + Quote(w.full) + " " + Quote(w.stripped));
  // objcopy stores the base name and the CRC of the file it is given.
  CommandOutput("cd " + Quote(dir) + " && objcopy --add-gnu-debuglink=" + name + ".debug " +
                Quote(w.stripped));
  w.build_id = testing::ReadelfBuildId(w.full);
  EXPECT_EQ(w.build_id.size(), 40u);
  return w;
}

// File offset of `function` in the workload: its ELF address mapped back through the PT_LOADs
// (the same in the stripped copy, whose segments objcopy leaves in place).
uint64_t FileOffsetOf(const SplitWorkload& w, const std::string& function) {
  const std::string nm = CommandOutput("nm --defined-only " + Quote(w.full));
  const size_t at = nm.find(" T " + function + "\n");
  EXPECT_NE(at, std::string::npos) << function;
  const uint64_t address = std::stoull(nm.substr(nm.rfind('\n', at) + 1, at), nullptr, 16);
  auto elf = ElfFile::Open(w.full);
  EXPECT_TRUE(elf.ok());
  for (const LoadSegment& s : (*elf)->segments()) {
    if (address >= s.vaddr && address - s.vaddr < s.file_size) return address - s.vaddr + s.offset;
  }
  ADD_FAILURE() << function << " at " << address << " is in no PT_LOAD";
  return 0;
}

ModuleKey KeyOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return ModuleKey{.dev = st.st_dev, .inode = st.st_ino};
}

uint32_t Add(NativeSymbolizer& symbolizer, const std::string& path,
             const std::string& mapped_path = "", const std::string& root = "") {
  auto id =
      symbolizer.AddModule(KeyOf(path), mapped_path.empty() ? path : mapped_path, {path}, root);
  EXPECT_TRUE(id.ok()) << id.status().message();
  return id.ok() ? *id : 0;
}

// Every hot function is named; with its first source line when `with_lines`.
void ExpectNamed(NativeSymbolizer& symbolizer, uint32_t id, const SplitWorkload& w,
                 bool with_lines) {
  for (const auto& [function, mark] : kHotFunctions) {
    const auto frames = symbolizer.Symbolize(id, FileOffsetOf(w, function));
    ASSERT_EQ(frames.size(), 1u) << function;
    EXPECT_EQ(frames[0].function, function);
    if (with_lines) {
      EXPECT_EQ(fs::path(frames[0].file).filename(), "fixture_main.c") << function;
      EXPECT_EQ(frames[0].line, MarkedLine("fixture_main.c", mark)) << function;
    } else {
      EXPECT_EQ(frames[0].file, "") << function;
      EXPECT_EQ(frames[0].line, 0) << function;
    }
  }
}

void ExpectNothingNamed(NativeSymbolizer& symbolizer, uint32_t id, const SplitWorkload& w) {
  for (const auto& [function, mark] : kHotFunctions) {
    EXPECT_TRUE(symbolizer.Symbolize(id, FileOffsetOf(w, function)).empty()) << function;
  }
}

DebugInfoOptions LocalOnly(const std::string& debug_dir) {
  DebugInfoOptions options;
  options.debug_dirs = {debug_dir};
  options.debuginfod_urls = "";
  return options;
}

std::string BuildIdPath(const std::string& debug_dir, const std::string& build_id) {
  return debug_dir + "/.build-id/" + build_id.substr(0, 2) + "/" + build_id.substr(2) + ".debug";
}

void Place(const std::string& from, const std::string& to) {
  fs::create_directories(fs::path(to).parent_path());
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

TEST(DebugInfoTest, StrippedCopyAloneNamesNothing) {
  profkit::testing::TempDir tmp;
  const SplitWorkload w = Split(tmp.path() + "/bin");
  fs::remove(w.debug);
  NativeSymbolizer symbolizer({}, LocalOnly(tmp.path() + "/debug"));
  ExpectNothingNamed(symbolizer, Add(symbolizer, w.stripped), w);
}

TEST(DebugInfoTest, BuildIdPathNamesWithLines) {
  profkit::testing::TempDir tmp;
  const SplitWorkload w = Split(tmp.path() + "/bin");
  Place(w.debug, BuildIdPath(tmp.path() + "/debug", w.build_id));
  fs::remove(w.debug);
  NativeSymbolizer symbolizer({}, LocalOnly(tmp.path() + "/debug"));
  ExpectNamed(symbolizer, Add(symbolizer, w.stripped), w, /*with_lines=*/true);
  EXPECT_EQ(symbolizer.counters().debug_build_id_files, 1u);
}

TEST(DebugInfoTest, DebugLinkBesideInDotDebugAndUnderDebugDir) {
  profkit::testing::TempDir tmp;
  const SplitWorkload w = Split(tmp.path() + "/bin");
  const std::string debug_dir = tmp.path() + "/debug";
  const std::string kept = tmp.path() + "/kept.debug";
  fs::rename(w.debug, kept);
  for (const std::string& place :
       {w.debug, tmp.path() + "/bin/.debug/app.debug", debug_dir + tmp.path() + "/bin/app.debug"}) {
    SCOPED_TRACE(place);
    Place(kept, place);
    NativeSymbolizer symbolizer({}, LocalOnly(debug_dir));
    ExpectNamed(symbolizer, Add(symbolizer, w.stripped), w, /*with_lines=*/true);
    EXPECT_EQ(symbolizer.counters().debug_link_files, 1u);
    fs::remove(place);
  }
}

TEST(DebugInfoTest, ContainerRootIsSearchedFirst) {
  // The process sees its binary at /opt/app; on the host it lives under the container's root.
  profkit::testing::TempDir tmp;
  const std::string root = tmp.path() + "/rootfs";
  const SplitWorkload w = Split(root + "/opt");
  Place(w.debug, BuildIdPath(root + "/usr/lib/debug", w.build_id));
  fs::remove(w.debug);
  NativeSymbolizer symbolizer({}, LocalOnly("/usr/lib/debug"));
  ExpectNamed(symbolizer, Add(symbolizer, w.stripped, "/opt/app", root), w, true);
  EXPECT_EQ(symbolizer.counters().debug_build_id_files, 1u);

  // The debuglink target beside the binary, in the container (the same build id: its build-id
  // path goes first).
  fs::remove(BuildIdPath(root + "/usr/lib/debug", w.build_id));
  const SplitWorkload w2 = Split(root + "/srv", "svc");
  NativeSymbolizer by_link({}, LocalOnly("/usr/lib/debug"));
  ExpectNamed(by_link, Add(by_link, w2.stripped, "/srv/svc", root), w2, true);
  EXPECT_EQ(by_link.counters().debug_link_files, 1u);
}

TEST(DebugInfoTest, MismatchedBuildIdIsIgnored) {
  profkit::testing::TempDir tmp;
  const SplitWorkload w = Split(tmp.path() + "/bin");
  // Another program's debug file at this build id's path, and behind the debuglink with a
  // matching CRC: objcopy computes the CRC of whatever file it is given.
  const std::string other = tmp.path() + "/other.debug";
  CommandOutput("objcopy --only-keep-debug " + Quote(FIXTURE_NOPIE) + " " + Quote(other));
  Place(other, BuildIdPath(tmp.path() + "/debug", w.build_id));
  Place(other, w.debug);
  CommandOutput("cd " + Quote(tmp.path() + "/bin") +
                " && objcopy --remove-section=.gnu_debuglink " +
                "--add-gnu-debuglink=app.debug app");
  NativeSymbolizer symbolizer({}, LocalOnly(tmp.path() + "/debug"));
  ExpectNothingNamed(symbolizer, Add(symbolizer, w.stripped), w);
  EXPECT_EQ(symbolizer.counters().debug_build_id_files, 0u);
  EXPECT_EQ(symbolizer.counters().debug_link_files, 0u);
}

TEST(DebugInfoTest, DebugLinkWithWrongCrcIsIgnored) {
  profkit::testing::TempDir tmp;
  const SplitWorkload w = Split(tmp.path() + "/bin");
  std::ofstream(w.debug, std::ios::app) << "changed after the link was made";
  NativeSymbolizer symbolizer({}, LocalOnly(tmp.path() + "/debug"));
  ExpectNothingNamed(symbolizer, Add(symbolizer, w.stripped), w);
}

// Fedora's MiniDebugInfo (find-debuginfo): the function symbols .dynsym lacks, in an ELF file
// without DWARF, xz-compressed into the stripped binary's .gnu_debugdata.
std::string AddMiniDebugInfo(const SplitWorkload& w, const std::string& dir) {
  const std::string q = Quote(dir);
  CommandOutput("cd " + q + " && nm -D " + Quote(w.stripped) +
                " --format=posix --defined-only | awk '{ print $1 }' | sort > dynsyms");
  CommandOutput(
      "cd " + q + " && nm " + Quote(w.full) +
      " --format=posix --defined-only | awk '{ if ($2 == \"T\" || $2 == \"t\") print $1 }'"
      " | sort > funcsyms");
  CommandOutput("cd " + q + " && comm -13 dynsyms funcsyms > keep_symbols");
  CommandOutput("cd " + q +
                " && objcopy -S --remove-section .gdb_index --remove-section .comment " +
                "--keep-symbols=keep_symbols " + Quote(w.debug) + " mini_debuginfo");
  CommandOutput("cd " + q + " && xz -f mini_debuginfo");
  const std::string with_mini = dir + "/app.mini";
  CommandOutput("cd " + q + " && objcopy --remove-section=.gnu_debuglink " +
                "--add-section .gnu_debugdata=mini_debuginfo.xz " + Quote(w.stripped) + " " +
                Quote(with_mini));
  return with_mini;
}

TEST(DebugInfoTest, MiniDebugInfoNamesWithoutLines) {
  profkit::testing::TempDir tmp;
  const SplitWorkload w = Split(tmp.path() + "/bin");
  const std::string mini = AddMiniDebugInfo(w, tmp.path() + "/bin");
  fs::remove(w.debug);
  NativeSymbolizer symbolizer({}, LocalOnly(tmp.path() + "/debug"));
  ExpectNamed(symbolizer, Add(symbolizer, mini), w, /*with_lines=*/false);
  EXPECT_EQ(symbolizer.counters().mini_debug_info, 1u);
}

TEST(DebugInfoTest, GarbageDebugDataAndDebugFilesAreRefused) {
  profkit::testing::TempDir tmp;
  const SplitWorkload w = Split(tmp.path() + "/bin");
  // Random bytes where the debug files are looked for, and as the .gnu_debugdata section.
  CommandOutput("head -c 65536 /dev/urandom > " + Quote(tmp.path() + "/garbage"));
  Place(tmp.path() + "/garbage", BuildIdPath(tmp.path() + "/debug", w.build_id));
  Place(tmp.path() + "/garbage", w.debug);
  const std::string bad = tmp.path() + "/bin/app.bad";
  CommandOutput("objcopy --add-section .gnu_debugdata=" + Quote(tmp.path() + "/garbage") + " " +
                Quote(w.stripped) + " " + Quote(bad));
  auto mini = OpenMiniDebugInfo(**ElfFile::Open(bad));
  EXPECT_FALSE(mini.ok());
  // A valid xz stream holding something other than ELF.
  CommandOutput("cd " + Quote(tmp.path()) + " && xz -k garbage");
  const std::string not_elf = tmp.path() + "/bin/app.notelf";
  CommandOutput("objcopy --add-section .gnu_debugdata=" + Quote(tmp.path() + "/garbage.xz") + " " +
                Quote(w.stripped) + " " + Quote(not_elf));
  EXPECT_FALSE(OpenMiniDebugInfo(**ElfFile::Open(not_elf)).ok());

  NativeSymbolizer symbolizer({}, LocalOnly(tmp.path() + "/debug"));
  ExpectNothingNamed(symbolizer, Add(symbolizer, bad), w);
  ExpectNothingNamed(symbolizer, Add(symbolizer, not_elf), w);
}

// ---- debuginfod ----

uint16_t FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// elfutils' debuginfod serving `dir` on loopback `port`, until destroyed.
class DebuginfodServer {
 public:
  DebuginfodServer(const std::string& dir, uint16_t port, const std::string& db) {
    if (access("/usr/bin/debuginfod", X_OK) != 0) {
      ADD_FAILURE() << "debuginfod is not installed (scripts/install-deps.sh --test)";
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      const std::string port_arg = std::to_string(port);
      execl("/usr/bin/debuginfod", "debuginfod", "-F", "-p", port_arg.c_str(), "-d", db.c_str(),
            "-t", "1", "-g", "0", dir.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~DebuginfodServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }

 private:
  pid_t pid_ = -1;
};

DebugInfoOptions WithServer(const std::string& tmp, uint16_t port) {
  DebugInfoOptions options = LocalOnly(tmp + "/debug");
  options.debuginfod_urls = "http://127.0.0.1:" + std::to_string(port);
  options.cache_dir = tmp + "/cache";
  options.debuginfod_timeout = std::chrono::seconds(5);
  // The server indexes its directory a moment after it starts: early 404s are asked again soon.
  options.miss_lifetime = std::chrono::milliseconds(200);
  options.error_lifetime = std::chrono::milliseconds(200);
  return options;
}

// Symbolizes the first hot function until it is named (the download arrived) or kAwait passes.
bool AwaitNamed(NativeSymbolizer& symbolizer, uint32_t id, const SplitWorkload& w) {
  const uint64_t offset = FileOffsetOf(w, "fixture_leaf");
  const auto deadline = std::chrono::steady_clock::now() + kAwait;
  uint64_t generation = symbolizer.names_generation();
  while (std::chrono::steady_clock::now() < deadline) {
    if (!symbolizer.Symbolize(id, offset).empty()) return true;
    // Nothing to do until the fetcher reports an arrival: wait for the generation to move.
    while (symbolizer.names_generation() == generation &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    generation = symbolizer.names_generation();
  }
  return false;
}

TEST(DebugInfoTest, DebuginfodOnlyNamesWithLinesOnceArrived) {
  profkit::testing::TempDir tmp;
  const SplitWorkload w = Split(tmp.path() + "/bin");
  // Only the server has the debug file.
  Place(w.debug, tmp.path() + "/served/app.debug");
  fs::remove(w.debug);
  const uint16_t port = FreeLoopbackPort();
  DebuginfodServer server(tmp.path() + "/served", port, tmp.path() + "/db.sqlite");
  NativeSymbolizer symbolizer({}, WithServer(tmp.path(), port));
  const uint32_t id = Add(symbolizer, w.stripped);
  ASSERT_TRUE(AwaitNamed(symbolizer, id, w));
  ExpectNamed(symbolizer, id, w, /*with_lines=*/true);
  const NativeSymbolizer::Counters c = symbolizer.counters();
  EXPECT_EQ(c.debuginfod_files, 1u);
  EXPECT_EQ(c.debuginfod.hits, 1u);
  EXPECT_EQ(c.debuginfod.bytes, fs::file_size(tmp.path() + "/served/app.debug"));
}

TEST(DebugInfoTest, DebuginfodNeverBlocksASymbolizeCall) {
  // A server that accepts connections and never answers: the download hangs until its timeout.
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 16), 0);
  socklen_t len = sizeof(addr);
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);

  profkit::testing::TempDir tmp;
  const SplitWorkload w = Split(tmp.path() + "/bin");
  fs::remove(w.debug);
  DebugInfoOptions options = WithServer(tmp.path(), ntohs(addr.sin_port));
  options.debuginfod_timeout = std::chrono::seconds(30);
  NativeSymbolizer symbolizer({}, options);
  const uint32_t id = Add(symbolizer, w.stripped);
  // Each call answers from memory while the download is still outstanding.
  for (int i = 0; i < 3; ++i) ExpectNothingNamed(symbolizer, id, w);
  const NativeSymbolizer::Counters c = symbolizer.counters();
  EXPECT_EQ(c.debuginfod.hits + c.debuginfod.misses + c.debuginfod.errors, 0u);
  // Destroying the symbolizer cancels the hung download instead of waiting out its timeout.
  close(listener);
}

TEST(DebugInfoTest, ServerDownThenBackNamesOnceItAnswers) {
  profkit::testing::TempDir tmp;
  const SplitWorkload w = Split(tmp.path() + "/bin");
  Place(w.debug, tmp.path() + "/served/app.debug");
  fs::remove(w.debug);
  const uint16_t port = FreeLoopbackPort();
  NativeSymbolizer symbolizer({}, WithServer(tmp.path(), port));
  const uint32_t id = Add(symbolizer, w.stripped);
  ExpectNothingNamed(symbolizer, id, w);
  // Await the failed attempt against the closed port.
  const auto deadline = std::chrono::steady_clock::now() + kAwait;
  while (symbolizer.counters().debuginfod.errors == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    ExpectNothingNamed(symbolizer, id, w);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GE(symbolizer.counters().debuginfod.errors, 1u);
  ExpectNothingNamed(symbolizer, id, w);

  DebuginfodServer server(tmp.path() + "/served", port, tmp.path() + "/db.sqlite");
  ASSERT_TRUE(AwaitNamed(symbolizer, id, w));
  ExpectNamed(symbolizer, id, w, /*with_lines=*/true);
}

TEST(DebugInfoTest, DebuginfodMismatchedBuildIdNamesNothing) {
  // The server holds a debug file whose build id is not the module's: it answers 404.
  profkit::testing::TempDir tmp;
  const SplitWorkload w = Split(tmp.path() + "/bin");
  fs::remove(w.debug);
  fs::create_directories(tmp.path() + "/served");
  CommandOutput("objcopy --only-keep-debug " + Quote(FIXTURE_NOPIE) + " " +
                Quote(tmp.path() + "/served/other.debug"));
  const uint16_t port = FreeLoopbackPort();
  DebuginfodServer server(tmp.path() + "/served", port, tmp.path() + "/db.sqlite");
  NativeSymbolizer symbolizer({}, WithServer(tmp.path(), port));
  const uint32_t id = Add(symbolizer, w.stripped);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (symbolizer.counters().debuginfod.misses < 3 &&
         std::chrono::steady_clock::now() < deadline) {
    ExpectNothingNamed(symbolizer, id, w);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(symbolizer.counters().debuginfod.misses, 1u);
  EXPECT_EQ(symbolizer.counters().debuginfod.hits, 0u);
  ExpectNothingNamed(symbolizer, id, w);
}

TEST(DebugInfoTest, DebuginfodCacheEvictsOldestBeyondLimit) {
  profkit::testing::TempDir tmp;
  const SplitWorkload pie = Split(tmp.path() + "/bin");
  const SplitWorkload nopie = Split(tmp.path() + "/bin2", "app", FIXTURE_NOPIE);
  Place(pie.debug, tmp.path() + "/served/pie.debug");
  Place(nopie.debug, tmp.path() + "/served/nopie.debug");
  fs::remove(pie.debug);
  fs::remove(nopie.debug);
  const uint64_t larger = std::max(fs::file_size(tmp.path() + "/served/pie.debug"),
                                   fs::file_size(tmp.path() + "/served/nopie.debug"));
  const uint16_t port = FreeLoopbackPort();
  DebuginfodServer server(tmp.path() + "/served", port, tmp.path() + "/db.sqlite");
  DebugInfoOptions options = WithServer(tmp.path(), port);
  options.cache_max_bytes = larger + 1;  // room for one download, not two
  NativeSymbolizer symbolizer({}, options);
  const uint32_t first = Add(symbolizer, pie.stripped);
  ASSERT_TRUE(AwaitNamed(symbolizer, first, pie));
  const uint32_t second = Add(symbolizer, nopie.stripped);
  ASSERT_TRUE(AwaitNamed(symbolizer, second, nopie));
  const NativeSymbolizer::Counters c = symbolizer.counters();
  EXPECT_EQ(c.debuginfod.hits, 2u);
  EXPECT_EQ(c.debuginfod.evictions, 1u);
  EXPECT_LE(c.debuginfod.cached_bytes, options.cache_max_bytes);
  // The evicted file stays readable through the descriptor the symbolizer holds.
  ExpectNamed(symbolizer, first, pie, /*with_lines=*/true);
  ExpectNamed(symbolizer, second, nopie, /*with_lines=*/true);
}

}  // namespace
}  // namespace profkit::symbolize
