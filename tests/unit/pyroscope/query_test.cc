#include "profkit/pyroscope/query.h"

#include <gtest/gtest.h>

namespace profkit::pyroscope {
namespace {

constexpr int64_t kNow = 1'700'000'000'123'456'789;

TEST(AppNameTest, NameAndLabels) {
  const Result<AppName> app = ParseAppName(
      "my.app{env=dev, otel.scope.name=com.grafana.pyroscope/nodejs,__session_id__=ab}");
  ASSERT_TRUE(app.ok()) << app.status().message();
  EXPECT_EQ(app->name, "my.app");
  const Labels expected = {{"env", "dev"},
                           {"otel.scope.name", "com.grafana.pyroscope/nodejs"},
                           {"__session_id__", "ab"}};
  EXPECT_EQ(app->labels, expected);
}

TEST(AppNameTest, NoLabelsEmptyBracesAndTrailingComma) {
  EXPECT_TRUE(ParseAppName("app")->labels.empty());
  EXPECT_TRUE(ParseAppName("app{}")->labels.empty());
  EXPECT_EQ(ParseAppName("app{a=b,}")->labels.size(), 1u);
}

TEST(AppNameTest, ErrorsSayWhatIsWrong) {
  EXPECT_NE(ParseAppName("").status().message().find("empty"), std::string::npos);
  EXPECT_NE(ParseAppName("{a=b}").status().message().find("empty"), std::string::npos);
  EXPECT_NE(ParseAppName("app{a=b").status().message().find("'}'"), std::string::npos);
  EXPECT_NE(ParseAppName("app{ab}").status().message().find("key=value"), std::string::npos);
  EXPECT_NE(ParseAppName("app{a b=c}").status().message().find("[A-Za-z0-9_.-]"),
            std::string::npos);
  EXPECT_NE(ParseAppName("app{a=1,a=2}").status().message().find("twice"), std::string::npos);
  EXPECT_FALSE(ParseAppName("app{a=\x01}").ok());
  EXPECT_FALSE(ParseAppName(std::string(kMaxNameBytes + 1, 'a')).ok());
  std::string many = "app{";
  for (size_t i = 0; i <= kMaxLabels; ++i) many += "k" + std::to_string(i) + "=v,";
  many += "}";
  EXPECT_NE(ParseAppName(many).status().message().find("more than"), std::string::npos);
  // A bad query is the client's mistake, answered 400, whatever bound it broke.
  EXPECT_EQ(ParseAppName(many).status().code(), StatusCode::kInvalidInput);
}

TEST(ParseTimeTest, UnitFollowsTheDigitCount) {
  EXPECT_EQ(*ParseTime("1700000000", kNow), 1'700'000'000'000'000'000);
  EXPECT_EQ(*ParseTime("1700000000123", kNow), 1'700'000'000'123'000'000);
  EXPECT_EQ(*ParseTime("1700000000123456", kNow), 1'700'000'000'123'456'000);
  EXPECT_EQ(*ParseTime("1700000000123456789", kNow), 1'700'000'000'123'456'789);
  EXPECT_EQ(*ParseTime("20231114", kNow), 1'699'920'000'000'000'000);
}

TEST(ParseTimeTest, NowAndOffsets) {
  EXPECT_EQ(*ParseTime("", kNow), kNow);
  EXPECT_EQ(*ParseTime("now", kNow), kNow);
  EXPECT_EQ(*ParseTime("now-1h", kNow), kNow - 3'600'000'000'000);
  EXPECT_EQ(*ParseTime("now+30s", kNow), kNow + 30'000'000'000);
  EXPECT_FALSE(ParseTime("now-1w", kNow).ok());
  EXPECT_FALSE(ParseTime("now-h", kNow).ok());
  EXPECT_FALSE(ParseTime("now-99999999d", kNow).ok());
  EXPECT_FALSE(ParseTime("now-999999999h", kNow).ok());
  EXPECT_TRUE(ParseTime("now-3650d", kNow).ok());
}

TEST(ParseTimeTest, Garbage) {
  EXPECT_FALSE(ParseTime("12ab", kNow).ok());
  EXPECT_FALSE(ParseTime("-5", kNow).ok());
  EXPECT_FALSE(ParseTime("12345678901234567890", kNow).ok());
  EXPECT_FALSE(ParseTime("20231340", kNow).ok());
  // Every unit overflows int64 nanoseconds past 2262.
  EXPECT_FALSE(ParseTime("9999999999", kNow).ok());
  EXPECT_FALSE(ParseTime("9999999999999", kNow).ok());
  EXPECT_FALSE(ParseTime("9999999999999999", kNow).ok());
  EXPECT_TRUE(ParseTime("9223372036", kNow).ok());
}

TEST(IngestQueryTest, DefaultsOfPyroscope) {
  const Result<IngestQuery> query = ParseIngestQuery({{"name", "app"}}, kNow);
  ASSERT_TRUE(query.ok()) << query.status().message();
  EXPECT_EQ(query->from_unix_nanos, kNow);
  EXPECT_EQ(query->until_unix_nanos, kNow);
  EXPECT_EQ(query->sample_rate, 100);
  EXPECT_EQ(query->spy_name, "unknown");
  EXPECT_EQ(query->units, "samples");
  EXPECT_EQ(query->aggregation_type, "sum");
  EXPECT_EQ(query->format, "");
  EXPECT_EQ(query->metric, "");
}

TEST(IngestQueryTest, EveryParameter) {
  const Result<IngestQuery> query = ParseIngestQuery({{"name", "shop.inuse_space{env=prod}"},
                                                      {"from", "1700000000"},
                                                      {"until", "1700000010000"},
                                                      {"sampleRate", "97"},
                                                      {"spyName", "ebpfspy"},
                                                      {"units", "bytes"},
                                                      {"aggregationType", "average"},
                                                      {"format", "folded"}},
                                                     kNow);
  ASSERT_TRUE(query.ok()) << query.status().message();
  EXPECT_EQ(query->app.name, "shop");
  EXPECT_EQ(query->metric, "inuse_space");
  EXPECT_EQ(query->from_unix_nanos, 1'700'000'000'000'000'000);
  EXPECT_EQ(query->until_unix_nanos, 1'700'000'010'000'000'000);
  EXPECT_EQ(query->sample_rate, 97);
  EXPECT_EQ(query->spy_name, "ebpfspy");
  EXPECT_EQ(query->units, "bytes");
  EXPECT_EQ(query->aggregation_type, "average");
  EXPECT_EQ(query->format, "folded");
}

TEST(IngestQueryTest, UnknownSuffixStaysInTheName) {
  EXPECT_EQ(ParseIngestQuery({{"name", "com.example.shop"}}, kNow)->app.name, "com.example.shop");
}

TEST(IngestQueryTest, ErrorsNameTheParameter) {
  const auto error = [](QueryParams params) {
    const Result<IngestQuery> query = ParseIngestQuery(params, kNow);
    EXPECT_FALSE(query.ok());
    return query.ok() ? std::string() : query.status().message();
  };
  EXPECT_EQ(error({}).rfind("name: required", 0), 0u);
  EXPECT_EQ(error({{"name", "a"}, {"name", "b"}}).rfind("name: given more than once", 0), 0u);
  EXPECT_EQ(error({{"name", "a"}, {"from", "x"}}).rfind("from:", 0), 0u);
  EXPECT_EQ(
      error({{"name", "a"}, {"from", "1700000010"}, {"until", "1700000000"}}).rfind("until:", 0),
      0u);
  EXPECT_EQ(error({{"name", "a"}, {"sampleRate", "0"}}).rfind("sampleRate:", 0), 0u);
  EXPECT_EQ(error({{"name", "a"}, {"sampleRate", "ten"}}).rfind("sampleRate:", 0), 0u);
  EXPECT_EQ(error({{"name", "a"}, {"spyName", "a,b"}}).rfind("spyName:", 0), 0u);
  EXPECT_EQ(error({{"name", "a"}, {"units", std::string(300, 'u')}}).rfind("units:", 0), 0u);
}

}  // namespace
}  // namespace profkit::pyroscope
