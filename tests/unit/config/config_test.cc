#include "profkit/config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "profkit/common/file_util.h"

namespace profkit::config {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Config ParseOk(std::string_view text) {
  Result<Config> r = ParseConfig(text, "conf.toml");
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : Config{};
}

std::string ParseError(std::string_view text) {
  Result<Config> r = ParseConfig(text, "conf.toml");
  EXPECT_FALSE(r.ok()) << "parsed: " << text;
  // Every mistake in the text, syntax or value, is invalid input.
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput) << r.status().message();
  return r.status().message();
}

void ExpectDefaults(const Config& c) {
  EXPECT_EQ(c.agent.hostname, "");
  EXPECT_EQ(c.http.listen, "127.0.0.1:9529");
  EXPECT_EQ(c.http.host, "127.0.0.1");
  EXPECT_EQ(c.http.port, 9529);
  EXPECT_EQ(c.dataway.url, "");
  EXPECT_EQ(c.local.dir, "profiles");
  EXPECT_TRUE(c.ebpf.enabled);
  EXPECT_EQ(c.ebpf.sample_rate, 99);
  EXPECT_EQ(c.ebpf.upload_interval, 60s);
  EXPECT_TRUE(c.ebpf.kernel_stacks);
  EXPECT_EQ(c.ebpf.env, "");
  EXPECT_THAT(c.warnings, IsEmpty());
}

TEST(ConfigTest, EmptyTextGivesDefaults) { ExpectDefaults(ParseOk("")); }

TEST(ConfigTest, DefaultConstructedMatchesEmptyFile) { ExpectDefaults(Config{}); }

TEST(ConfigTest, SampleFileParsesToDefaults) {
  Result<Config> r = LoadConfigFile(std::string(PROFKIT_SOURCE_DIR) + "/conf/profkit.toml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectDefaults(*r);
}

TEST(ConfigTest, SampleFileDataDirIsItsDirectory) {
  Result<Config> r = LoadConfigFile(std::string(PROFKIT_SOURCE_DIR) + "/conf/profkit.toml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->agent.data_dir, std::string(PROFKIT_SOURCE_DIR) + "/conf");
  EXPECT_EQ(ParseOk("").agent.data_dir, "");
}

// The commented [[inputs.profile]] block of the sample, uncommented, is valid and has DataKit's
// defaults.
TEST(ConfigTest, SampleProfileInputBlockParses) {
  Result<std::string> text =
      ReadFileBounded(std::string(PROFKIT_SOURCE_DIR) + "/conf/profkit.toml", kMaxConfigFileBytes);
  ASSERT_TRUE(text.ok());
  const size_t start = text->find("#[[inputs.profile]]");
  ASSERT_NE(start, std::string::npos);
  std::string block;
  for (size_t pos = start; pos < text->size();) {
    size_t end = text->find('\n', pos);
    if (end == std::string::npos) end = text->size();
    const std::string line = text->substr(pos, end - pos);
    if (line.rfind("#  #", 0) != 0 && line.rfind("#", 0) == 0) block += line.substr(1) + "\n";
    pos = end + 1;
  }
  const Config c = ParseOk(block);
  EXPECT_THAT(c.warnings, IsEmpty());
  EXPECT_TRUE(c.profile.enabled);
  EXPECT_EQ(c.profile.io.cache_capacity_mb, 10240);
  EXPECT_EQ(c.profile.tags,
            (std::vector<std::pair<std::string, std::string>>{{"some_tag", "some_value"}}));
}

TEST(ConfigTest, AllKeysSet) {
  const Config c = ParseOk(R"(
[agent]
hostname = "web-1"
[http]
listen = "[::1]:19529"
[dataway]
url = "https://openway.guance.com?token=tkn_xxx"
[local]
dir = ""
[ebpf]
enabled = false
sample_rate = 1000
upload_interval = "1m30s"
kernel_stacks = false
env = "prod"
)");
  EXPECT_EQ(c.agent.hostname, "web-1");
  EXPECT_EQ(c.http.listen, "[::1]:19529");
  EXPECT_EQ(c.http.host, "::1");
  EXPECT_EQ(c.http.port, 19529);
  EXPECT_EQ(c.dataway.url, "https://openway.guance.com?token=tkn_xxx");
  EXPECT_EQ(c.local.dir, "");
  EXPECT_FALSE(c.ebpf.enabled);
  EXPECT_EQ(c.ebpf.sample_rate, 1000);
  EXPECT_EQ(c.ebpf.upload_interval, 90s);
  EXPECT_FALSE(c.ebpf.kernel_stacks);
  EXPECT_EQ(c.ebpf.env, "prod");
  EXPECT_THAT(c.warnings, IsEmpty());
}

TEST(ConfigTest, DottedKeysAndInlineTablesAreTheSameKeys) {
  const Config c = ParseOk("ebpf.sample_rate = 49\nhttp = { listen = \":80\" }\n");
  EXPECT_EQ(c.ebpf.sample_rate, 49);
  EXPECT_EQ(c.http.host, "0.0.0.0");
  EXPECT_EQ(c.http.port, 80);
}

TEST(ConfigTest, WrongTypesNameTheKey) {
  EXPECT_EQ(ParseError("[ebpf]\nsample_rate = \"99\""),
            "conf.toml: ebpf.sample_rate: expected an integer, got a string");
  EXPECT_EQ(ParseError("[ebpf]\nsample_rate = 99.5"),
            "conf.toml: ebpf.sample_rate: expected an integer, got a float");
  EXPECT_EQ(ParseError("[ebpf]\nenabled = \"yes\""),
            "conf.toml: ebpf.enabled: expected a boolean (true or false), got a string");
  EXPECT_EQ(ParseError("[ebpf]\nkernel_stacks = 1"),
            "conf.toml: ebpf.kernel_stacks: expected a boolean (true or false), got an integer");
  EXPECT_EQ(ParseError("[ebpf]\nupload_interval = 60"),
            "conf.toml: ebpf.upload_interval: expected a duration string such as \"60s\", got an "
            "integer");
  EXPECT_EQ(ParseError("[ebpf]\nenv = [\"prod\"]"),
            "conf.toml: ebpf.env: expected a string, got an array");
  EXPECT_EQ(ParseError("[agent]\nhostname = 1979-05-27"),
            "conf.toml: agent.hostname: expected a string, got a date");
  EXPECT_EQ(ParseError("[http]\nlisten = 9529"),
            "conf.toml: http.listen: expected a string, got an integer");
  EXPECT_EQ(ParseError("[dataway]\nurl = true"),
            "conf.toml: dataway.url: expected a string, got a boolean");
  EXPECT_EQ(ParseError("[local]\ndir = {}"),
            "conf.toml: local.dir: expected a string, got a table");
  EXPECT_EQ(ParseError("ebpf = 1"), "conf.toml: ebpf: expected a table, got an integer");
  EXPECT_EQ(ParseError("local = [1]"), "conf.toml: local: expected a table, got an array");
}

TEST(ConfigTest, OutOfRangeValues) {
  EXPECT_EQ(ParseError("[ebpf]\nsample_rate = 0"),
            "conf.toml: ebpf.sample_rate: must be between 1 and 1000, got 0");
  EXPECT_EQ(ParseError("[ebpf]\nsample_rate = 1001"),
            "conf.toml: ebpf.sample_rate: must be between 1 and 1000, got 1001");
  EXPECT_EQ(ParseError("[ebpf]\nsample_rate = 9223372036854775807"),
            "conf.toml: ebpf.sample_rate: must be between 1 and 1000, got 9223372036854775807");
  EXPECT_EQ(ParseError("[ebpf]\nupload_interval = \"500ms\""),
            "conf.toml: ebpf.upload_interval: must be between 1s and 1h, got \"500ms\"");
  EXPECT_EQ(ParseError("[ebpf]\nupload_interval = \"1h1s\""),
            "conf.toml: ebpf.upload_interval: must be between 1s and 1h, got \"1h1s\"");
  EXPECT_EQ(ParseError("[ebpf]\nupload_interval = \"10\""),
            "conf.toml: ebpf.upload_interval: invalid duration \"10\": missing unit (one of ns, "
            "us, ms, s, m, h), e.g. \"10s\"");
  EXPECT_EQ(ParseError("[ebpf]\nenv = \"a,b\""),
            "conf.toml: ebpf.env: \"a,b\" contains a space, ',' or a control character");
  EXPECT_EQ(ParseError("[ebpf]\nenv = \"" + std::string(201, 'e') + "\""),
            "conf.toml: ebpf.env: longer than 200 bytes (201 bytes)");
  EXPECT_EQ(ParseError("[agent]\nhostname = \"my host\""),
            "conf.toml: agent.hostname: \"my host\" contains a space, ',' or a control character");
  EXPECT_EQ(ParseError("[local]\ndir = \"" + std::string(4096, 'd') + "\""),
            "conf.toml: local.dir: longer than 4095 bytes");
  const Config edge = ParseOk("[ebpf]\nsample_rate = 1\nupload_interval = \"1s\"");
  EXPECT_EQ(edge.ebpf.sample_rate, 1);
  EXPECT_EQ(edge.ebpf.upload_interval, 1s);
  EXPECT_EQ(ParseOk("[ebpf]\nupload_interval = \"1h\"").ebpf.upload_interval, 1h);
}

TEST(ConfigTest, OffCpuKeys) {
  const Config defaults = ParseOk("");
  EXPECT_FALSE(defaults.ebpf.off_cpu);
  EXPECT_EQ(defaults.ebpf.off_cpu_min_duration, 1ms);
  EXPECT_EQ(defaults.ebpf.off_cpu_sample_every, 100);
  EXPECT_FALSE(defaults.ebpf.off_cpu_kernel_threads);
  const Config set = ParseOk(
      "[ebpf]\noff_cpu = true\noff_cpu_min_duration = \"250us\"\noff_cpu_sample_every = 10\n"
      "off_cpu_kernel_threads = true");
  EXPECT_TRUE(set.ebpf.off_cpu);
  EXPECT_EQ(set.ebpf.off_cpu_min_duration, 250us);
  EXPECT_EQ(set.ebpf.off_cpu_sample_every, 10);
  EXPECT_TRUE(set.ebpf.off_cpu_kernel_threads);
  EXPECT_EQ(ParseOk("[ebpf]\noff_cpu_min_duration = \"0s\"").ebpf.off_cpu_min_duration, 0ns);
  EXPECT_EQ(ParseError("[ebpf]\noff_cpu = \"yes\""),
            "conf.toml: ebpf.off_cpu: expected a boolean (true or false), got a string");
  EXPECT_EQ(ParseError("[ebpf]\noff_cpu_sample_every = 0"),
            "conf.toml: ebpf.off_cpu_sample_every: must be between 1 and 10000, got 0");
  EXPECT_EQ(ParseError("[ebpf]\noff_cpu_sample_every = 10001"),
            "conf.toml: ebpf.off_cpu_sample_every: must be between 1 and 10000, got 10001");
  EXPECT_EQ(ParseError("[ebpf]\noff_cpu_min_duration = \"2m\""),
            "conf.toml: ebpf.off_cpu_min_duration: must be between 0s and 1m, got \"2m\"");
  EXPECT_THAT(ParseError("[ebpf]\noff_cpu_min_duration = 5"),
              HasSubstr("ebpf.off_cpu_min_duration: expected a duration string"));
}

TEST(ConfigTest, ListenAddressErrors) {
  EXPECT_EQ(ParseError("[http]\nlisten = \"127.0.0.1:0\""),
            "conf.toml: http.listen: invalid address \"127.0.0.1:0\": port must be a number "
            "between 1 and 65535, got \"0\"");
  EXPECT_EQ(ParseError("[http]\nlisten = \"::1:9529\""),
            "conf.toml: http.listen: invalid address \"::1:9529\": IPv6 addresses must be in "
            "brackets, e.g. \"[::1]:9529\"");
}

TEST(ConfigTest, DatawayUrlErrors) {
  EXPECT_EQ(ParseError("[dataway]\nurl = \"ftp://openway.guance.com\""),
            "conf.toml: dataway.url: invalid URL \"ftp://openway.guance.com\": must start "
            "with http:// or https://");
  EXPECT_EQ(ParseError("[dataway]\nurl = \"openway.guance.com?token=x\""),
            "conf.toml: dataway.url: invalid URL \"openway.guance.com?token=x\": must start "
            "with http:// or https://");
  EXPECT_EQ(ParseError("[dataway]\nurl = \"http://h:70000/\"")
                .rfind("conf.toml: dataway.url: invalid URL \"http://h:70000/\": ", 0),
            0u);
}

TEST(ConfigTest, UnknownKeysAndTablesAreWarnings) {
  const Config c = ParseOk(R"(
top = 1
[ebpf]
sample_rat = 50
python = { enabled = true }
[ebpff]
x = 1
[http.tls]
cert = "c"
[[inputs.profile]]
url = "u"
)");
  EXPECT_EQ(c.ebpf.sample_rate, 99);
  EXPECT_THAT(c.warnings, ElementsAre("conf.toml: unknown table 'ebpf.python' (ignored)",
                                      "conf.toml: unknown key 'ebpf.sample_rat' (ignored)",
                                      "conf.toml: unknown table 'ebpff' (ignored)",
                                      "conf.toml: unknown table 'http.tls' (ignored)",
                                      "conf.toml: unknown key 'inputs.profile[0].url' (ignored)",
                                      "conf.toml: unknown key 'top' (ignored)"));
}

TEST(ConfigTest, DataKitProfileInputIsAcceptedAsIs) {
  const Config c = ParseOk(R"(
[[inputs.profile]]
  endpoints = ["/profiling/v1/input", "/custom"]
  body_size_limit_mb = 16
  generate_metrics = false
  [inputs.profile.io_config]
    cache_path = "/var/cache/q"
    cache_capacity_mb = 100
    clear_cache_on_start = true
    upload_workers = 2
    send_timeout = "10s"
    send_retry_count = 3
  [inputs.profile.tags]
    some_tag = "some_value"
    a = "x,y"
)");
  EXPECT_TRUE(c.warnings.empty()) << c.warnings.front();
  EXPECT_TRUE(c.profile.enabled);
  EXPECT_EQ(c.profile.endpoints, (std::vector<std::string>{"/profiling/v1/input", "/custom"}));
  EXPECT_EQ(c.profile.body_size_limit_mb, 16);
  EXPECT_FALSE(c.profile.generate_metrics);
  EXPECT_EQ(c.profile.io.cache_path, "/var/cache/q");
  EXPECT_EQ(c.profile.io.cache_capacity_mb, 100);
  EXPECT_TRUE(c.profile.io.clear_cache_on_start);
  EXPECT_EQ(c.profile.io.upload_workers, 2);
  EXPECT_EQ(c.profile.io.send_timeout, std::chrono::seconds(10));
  EXPECT_EQ(c.profile.io.send_retry_count, 3);
  EXPECT_EQ(c.profile.tags, (std::vector<std::pair<std::string, std::string>>{
                                {"a", "x,y"}, {"some_tag", "some_value"}}));
}

TEST(ConfigTest, ProfileInputDefaultsAreDataKits) {
  const Config absent = ParseOk("");
  EXPECT_FALSE(absent.profile.enabled);
  const Config c = ParseOk("[[inputs.profile]]\n");
  EXPECT_TRUE(c.profile.enabled);
  EXPECT_EQ(c.profile.endpoints, (std::vector<std::string>{"/profiling/v1/input"}));
  EXPECT_EQ(c.profile.body_size_limit_mb, 32);
  EXPECT_TRUE(c.profile.generate_metrics);
  EXPECT_EQ(c.profile.io.cache_path, "cache/profile_inputs");
  EXPECT_EQ(c.profile.io.cache_capacity_mb, 10240);
  EXPECT_FALSE(c.profile.io.clear_cache_on_start);
  EXPECT_EQ(c.profile.io.upload_workers, 8);
  EXPECT_EQ(c.profile.io.send_timeout, std::chrono::seconds(75));
  EXPECT_EQ(c.profile.io.send_retry_count, 4);
}

TEST(ConfigTest, ProfileInputErrorsNameTheKey) {
  EXPECT_EQ(ParseError("[[inputs.profile]]\nendpoints = [\"no-slash\"]\n"),
            "conf.toml: inputs.profile[0].endpoints: \"no-slash\" must be a path starting with "
            "'/', at most 256 bytes");
  EXPECT_EQ(ParseError("[[inputs.profile]]\n[inputs.profile.io_config]\nupload_workers = 0\n"),
            "conf.toml: inputs.profile[0].io_config.upload_workers: must be between 1 and 256, "
            "got 0");
  EXPECT_EQ(ParseError("[[inputs.profile]]\n[inputs.profile.tags]\nk = 1\n"),
            "conf.toml: inputs.profile[0].tags.k: expected a string, got an integer");
  EXPECT_EQ(ParseError("[[inputs.profile]]\n[[inputs.profile]]\n"),
            "conf.toml: inputs.profile: only one [[inputs.profile]] table is supported, got 2");
  EXPECT_EQ(ParseError("[inputs.profile]\n"),
            "conf.toml: inputs.profile: expected an array of tables ([[inputs.profile]]), got a "
            "table");
}

TEST(ConfigTest, SyntaxErrorHasLineAndColumn) {
  const std::string message = ParseError("[ebpf]\nenabled = true\nsample_rate = = 5\n");
  EXPECT_EQ(message.rfind("conf.toml:3:", 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(ParseError("[ebpf]\n[ebpf]\n").rfind("conf.toml:2:", 0), 0u);
}

TEST(ConfigTest, DuplicateKeyIsASyntaxError) {
  EXPECT_EQ(ParseError("[ebpf]\nsample_rate = 1\nsample_rate = 2\n").rfind("conf.toml:3:", 0), 0u);
}

TEST(ConfigTest, LoadConfigFileErrors) {
  const Result<Config> missing = LoadConfigFile("/nonexistent/profkit.toml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "open /nonexistent/profkit.toml: No such file or directory");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().error_number(), ENOENT);
}

// ---- [symbols] ----

TEST(ConfigTest, SymbolsDefaults) {
  const SymbolsConfig symbols = ParseOk("").symbols;
  EXPECT_FALSE(symbols.debuginfod_urls.has_value());  // the DEBUGINFOD_URLS environment variable
  EXPECT_THAT(symbols.debug_dirs, ElementsAre("/usr/lib/debug"));
  EXPECT_EQ(symbols.debuginfod_timeout, 30s);
  EXPECT_EQ(symbols.cache_dir, "/var/cache/profkit/debuginfod");
  EXPECT_EQ(symbols.cache_max_mb, 2048);
  const SymbolsConfig sample =
      LoadConfigFile(std::string(PROFKIT_SOURCE_DIR) + "/conf/profkit.toml")->symbols;
  EXPECT_FALSE(sample.debuginfod_urls.has_value());
  EXPECT_EQ(sample.debug_dirs, symbols.debug_dirs);
  EXPECT_EQ(sample.cache_max_mb, symbols.cache_max_mb);
}

TEST(ConfigTest, SymbolsValues) {
  const SymbolsConfig symbols = ParseOk(R"([symbols]
debuginfod_urls = "https://debuginfod.debian.net http://127.0.0.1:8002"
debug_dirs = ["/usr/lib/debug", "/opt/debug"]
debuginfod_timeout = "5s"
cache_dir = "/var/tmp/di"
cache_max_mb = 10
)")
                                    .symbols;
  EXPECT_EQ(symbols.debuginfod_urls, "https://debuginfod.debian.net http://127.0.0.1:8002");
  EXPECT_THAT(symbols.debug_dirs, ElementsAre("/usr/lib/debug", "/opt/debug"));
  EXPECT_EQ(symbols.debuginfod_timeout, 5s);
  EXPECT_EQ(symbols.cache_dir, "/var/tmp/di");
  EXPECT_EQ(symbols.cache_max_mb, 10);
  EXPECT_EQ(ParseOk("[symbols]\ndebuginfod_urls = \"\"").symbols.debuginfod_urls, "");
}

TEST(ConfigTest, SymbolsErrorsNameTheKey) {
  EXPECT_THAT(ParseError("[symbols]\ndebuginfod_urls = \"ftp://x\""),
              HasSubstr("symbols.debuginfod_urls"));
  EXPECT_THAT(ParseError("[symbols]\ndebuginfod_urls = 3"), HasSubstr("symbols.debuginfod_urls"));
  EXPECT_THAT(ParseError("[symbols]\ndebug_dirs = [\"relative\"]"),
              HasSubstr("symbols.debug_dirs"));
  EXPECT_THAT(ParseError("[symbols]\ndebuginfod_timeout = \"0s\""),
              HasSubstr("symbols.debuginfod_timeout"));
  EXPECT_THAT(ParseError("[symbols]\ncache_dir = \"cache\""), HasSubstr("symbols.cache_dir"));
  EXPECT_THAT(ParseError("[symbols]\ncache_max_mb = 0"), HasSubstr("symbols.cache_max_mb"));
}

TEST(ConfigTest, SymbolsReadLimits) {
  const SymbolsConfig defaults = ParseOk("").symbols;
  EXPECT_EQ(defaults.max_section_mb, 512);
  EXPECT_EQ(defaults.max_dwarf_units, 131072);
  EXPECT_EQ(defaults.max_dwarf_memory_mb, 24);
  const SymbolsConfig sample =
      LoadConfigFile(std::string(PROFKIT_SOURCE_DIR) + "/conf/profkit.toml")->symbols;
  EXPECT_EQ(sample.max_section_mb, defaults.max_section_mb);
  EXPECT_EQ(sample.max_dwarf_units, defaults.max_dwarf_units);
  EXPECT_EQ(sample.max_dwarf_memory_mb, defaults.max_dwarf_memory_mb);
  const SymbolsConfig set =
      ParseOk("[symbols]\nmax_section_mb = 64\nmax_dwarf_units = 1000\nmax_dwarf_memory_mb = 8")
          .symbols;
  EXPECT_EQ(set.max_section_mb, 64);
  EXPECT_EQ(set.max_dwarf_units, 1000);
  EXPECT_EQ(set.max_dwarf_memory_mb, 8);
  EXPECT_THAT(ParseError("[symbols]\nmax_dwarf_memory_mb = 0"),
              HasSubstr("symbols.max_dwarf_memory_mb"));
  EXPECT_THAT(ParseError("[symbols]\nmax_section_mb = 0"), HasSubstr("symbols.max_section_mb"));
  EXPECT_THAT(ParseError("[symbols]\nmax_section_mb = 65537"), HasSubstr("symbols.max_section_mb"));
  EXPECT_THAT(ParseError("[symbols]\nmax_dwarf_units = 0"), HasSubstr("symbols.max_dwarf_units"));
  EXPECT_THAT(ParseError("[symbols]\nmax_dwarf_units = \"many\""),
              HasSubstr("symbols.max_dwarf_units"));
}

TEST(ConfigTest, PythonReadBudget) {
  EXPECT_EQ(ParseOk("").ebpf.python_read_kb_per_second, 8192);
  EXPECT_EQ(LoadConfigFile(std::string(PROFKIT_SOURCE_DIR) + "/conf/profkit.toml")
                ->ebpf.python_read_kb_per_second,
            8192);
  EXPECT_EQ(ParseOk("[ebpf]\npython_read_kb_per_second = 64").ebpf.python_read_kb_per_second, 64);
  EXPECT_THAT(ParseError("[ebpf]\npython_read_kb_per_second = 63"),
              HasSubstr("ebpf.python_read_kb_per_second"));
  EXPECT_THAT(ParseError("[ebpf]\npython_read_kb_per_second = 1048577"),
              HasSubstr("ebpf.python_read_kb_per_second"));
}

}  // namespace
}  // namespace profkit::config
