#include "profkit/sampling/sampler_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace profkit::sampling {
namespace {

using ::testing::HasSubstr;

SamplerOptions Valid() { return SamplerOptions{.ring_buffer_bytes = size_t{4} << 20}; }

TEST(SamplerOptionsTest, OffCpuDefaultsAreOffOneInAHundredAndOneMillisecond) {
  const OffCpuOptions defaults;
  EXPECT_FALSE(defaults.enabled);
  EXPECT_EQ(defaults.sample_every, 100u);
  EXPECT_EQ(defaults.min_duration_ns, 1'000'000u);
  EXPECT_FALSE(defaults.kernel_threads);
  EXPECT_TRUE(ValidateSamplerOptions(Valid()).ok());
}

TEST(SamplerOptionsTest, RejectsOffCpuSamplingOutsideItsBounds) {
  SamplerOptions options = Valid();
  options.off_cpu.sample_every = 0;
  EXPECT_THAT(ValidateSamplerOptions(options).message(), HasSubstr("1 in 0 is outside [1, 10000]"));
  options.off_cpu.sample_every = kMaxOffCpuSampleEvery + 1;
  EXPECT_FALSE(ValidateSamplerOptions(options).ok());
  options.off_cpu.sample_every = kMaxOffCpuSampleEvery;
  EXPECT_TRUE(ValidateSamplerOptions(options).ok());
  options.off_cpu.min_duration_ns = kMaxOffCpuMinDurationNs + 1;
  EXPECT_THAT(ValidateSamplerOptions(options).message(), HasSubstr("minimum duration"));
}

}  // namespace
}  // namespace profkit::sampling
