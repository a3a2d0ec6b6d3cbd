// `profkit run`'s eBPF road with a scripted source and the real LocalSink: the flush worker's
// profiles land under local.dir, one per service.
#include "profkit/agent/agent.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "profkit/common/compression.h"
#include "profkit/common/file_util.h"
#include "stack_functions.h"
#include "testing/fake_sample_source.h"
#include "testing/temp_dir.h"

namespace profkit::agent {
namespace {

namespace fs = std::filesystem;

sampling::Record SampleOfSelf() {
  const auto self = static_cast<uint32_t>(getpid());
  return sampling::SampleRecord{
      .pid = self,
      .tid = self,
      .comm = "agent_test",
      .user_ips = {testing::Address(PkTestLeaf) + 4, testing::Inside(PkTestCaller)}};
}

TEST(AgentTest, FlushesTheSourcesSamplesToTheLocalSink) {
  testing::TempDir dir;
  config::Config config;
  config.agent.hostname = "test-host";
  config.local.dir = dir.path();
  config.ebpf.upload_interval = std::chrono::hours(1);  // only the final flush
  bool source_made = false;
  const sampling::SampleSourceFactory sources = [&](const sampling::SamplerOptions& options)
      -> Result<std::unique_ptr<sampling::SampleSource>> {
    source_made = true;
    EXPECT_EQ(options.sample_rate_hz, config.ebpf.sample_rate);
    return std::unique_ptr<sampling::SampleSource>(
        std::make_unique<testing::FakeSampleSource>(std::vector<std::vector<sampling::Record>>{
            {SampleOfSelf(), SampleOfSelf()}, {SampleOfSelf()}}));
  };
  Result<std::unique_ptr<Agent>> agent = Agent::Start(config, sources);
  ASSERT_TRUE(agent.ok()) << agent.status().message();
  ASSERT_TRUE(source_made);
  const std::atomic<bool> stop{false};
  // The scripted source ends exhausted, which ends the run like a stop request.
  ASSERT_TRUE((*agent)->Run(stop).ok());

  // The service of a process without DD_SERVICE is its executable's name.
  const fs::path service_dir = fs::path(dir.path()) / "agent_test";
  ASSERT_TRUE(fs::is_directory(service_dir));
  const std::vector<fs::path> files{fs::directory_iterator(service_dir), fs::directory_iterator()};
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].extension(), ".pprof");
  auto gzip = ReadFileBounded(files[0].string(), 16 << 20);
  ASSERT_TRUE(gzip.ok());
  auto pprof = GzipDecompress(*gzip, 64 << 20);
  ASSERT_TRUE(pprof.ok()) << pprof.status().message();
  EXPECT_NE(pprof->find("PkTestLeaf"), std::string::npos) << "symbolized by the flush worker";
  EXPECT_NE(pprof->find("PkTestCaller"), std::string::npos);
}

TEST(AgentTest, SourceFailureFailsStartWithItsStep) {
  config::Config config;
  config.agent.hostname = "test-host";
  config.local.dir = "";
  const sampling::SampleSourceFactory sources =
      [](const sampling::SamplerOptions&) -> Result<std::unique_ptr<sampling::SampleSource>> {
    return Status::Unsupported("no BPF here");
  };
  Result<std::unique_ptr<Agent>> agent = Agent::Start(config, sources);
  ASSERT_FALSE(agent.ok());
  EXPECT_NE(agent.status().message().find("starting eBPF sampling"), std::string::npos);
  EXPECT_NE(agent.status().message().find("no BPF here"), std::string::npos);
}

}  // namespace
}  // namespace profkit::agent
