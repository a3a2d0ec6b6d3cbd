// The views on known profiles: collapsed text, speedscope JSON, the flame graph SVG (structure,
// escaping, percentages, merging of narrow frames, the size bound) and pprof -> StackProfile.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string_view>
#include <string>
#include <vector>

#include "profkit/profile/collapsed_writer.h"
#include "profkit/profile/flame_graph_svg.h"
#include "profkit/profile/pprof_builder.h"
#include "profkit/profile/profile_views.h"
#include "profkit/profile/speedscope_writer.h"
#include "profkit/profile/stack_profile.h"

namespace profkit::profile {
namespace {

ViewFrame Py(std::string function, std::string file, int64_t line) {
  return {.kind = FrameKind::kPython, .function = function, .file = file, .line = line};
}
ViewFrame Native(std::string function, std::string module = "/usr/bin/python3.11") {
  return {.kind = FrameKind::kNative, .function = function, .module = module};
}
ViewFrame Kernel(std::string function) {
  return {.kind = FrameKind::kKernel, .function = function, .module = "[kernel.kallsyms]"};
}

// main (native) -> <module> (py) -> hot (py) 75 / cold (py) 20; main -> write -> ksys_write 5.
StackProfile Known() {
  StackProfile p;
  const uint32_t main = p.InternFrame(Native("main"));
  const uint32_t module = p.InternFrame(Py("<module>", "/srv/app.py", 30));
  const uint32_t hot = p.InternFrame(Py("hot", "/srv/app.py", 12));
  const uint32_t cold = p.InternFrame(Py("cold", "/srv/app.py", 20));
  const uint32_t write = p.InternFrame(Native("__GI___libc_write", "/usr/lib/libc.so.6"));
  const uint32_t kwrite = p.InternFrame(Kernel("ksys_write"));
  const uint32_t t1 = p.InternThread("python3 (100)");
  const uint32_t t2 = p.InternThread("worker (101)");
  p.AddStack({main, module, hot}, 75, t1);
  p.AddStack({main, module, cold}, 15, t1);
  p.AddStack({main, module, cold}, 5, t2);
  p.AddStack({main, write, kwrite}, 5, t2);
  p.info = {.title = "python3 app.py", .duration_ns = 1'000'000'000, .period_ns = 10'101'010};
  return p;
}

TEST(StackProfileTest, InternsFramesAndThreadsAndSumsValues) {
  StackProfile p = Known();
  EXPECT_EQ(p.frames().size(), 6u);
  EXPECT_EQ(p.InternFrame(Py("hot", "/srv/app.py", 12)), 2u);
  EXPECT_EQ(p.total(), 100);
  p.AddStack({}, 5);
  p.AddStack({0}, 0);
  EXPECT_EQ(p.total(), 100);
  EXPECT_EQ(p.stacks().size(), 4u);
}

TEST(CollapsedTextTest, PythonFramesCarryFileAndLineUnlessNoLines) {
  const StackProfile p = Known();
  EXPECT_EQ(CollapsedText(p), "main;<module> (/srv/app.py:30);cold (/srv/app.py:20) 20\n"
                              "main;<module> (/srv/app.py:30);hot (/srv/app.py:12) 75\n"
                              "main;__GI___libc_write;ksys_write_[k] 5\n");
  EXPECT_EQ(
      CollapsedText(p, false),
      "main;<module>;cold 20\nmain;<module>;hot 75\nmain;__GI___libc_write;ksys_write_[k] 5\n");
}

TEST(SpeedscopeTest, OneSampledProfilePerThreadHeaviestFirst) {
  const nlohmann::json j = nlohmann::json::parse(SpeedscopeJson(Known()));
  EXPECT_EQ(j["$schema"], "https://www.speedscope.app/file-format-schema.json");
  EXPECT_EQ(j["name"], "python3 app.py");
  const auto& frames = j["shared"]["frames"];
  ASSERT_EQ(frames.size(), 6u);
  EXPECT_EQ(frames[2], (nlohmann::json{{"name", "hot"}, {"file", "/srv/app.py"}, {"line", 12}}));
  EXPECT_EQ(frames[0], (nlohmann::json{{"name", "main"}, {"file", "/usr/bin/python3.11"}}))
      << "a native frame without source names its module";
  ASSERT_EQ(j["profiles"].size(), 2u);
  const auto& first = j["profiles"][0];
  EXPECT_EQ(first["type"], "sampled");
  EXPECT_EQ(first["name"], "python3 (100)");
  EXPECT_EQ(first["unit"], "nanoseconds");
  EXPECT_EQ(first["samples"], (nlohmann::json{{0, 1, 2}, {0, 1, 3}}));
  EXPECT_EQ(first["weights"], (nlohmann::json{75 * 10'101'010LL, 15 * 10'101'010LL}));
  EXPECT_EQ(first["startValue"], 0);
  EXPECT_EQ(first["endValue"], 90 * 10'101'010LL);
  EXPECT_EQ(j["profiles"][1]["name"], "worker (101)");
}

TEST(SpeedscopeTest, InvalidUtf8IsReplacedNotThrown) {
  StackProfile p;
  p.AddStack({p.InternFrame(Native("bad\xff\xfename"))}, 1);
  const nlohmann::json j = nlohmann::json::parse(SpeedscopeJson(p));
  EXPECT_EQ(j["shared"]["frames"][0]["name"], "bad\xEF\xBF\xBD\xEF\xBF\xBDname");
  EXPECT_EQ(j["profiles"][0]["unit"], "none") << "no period: bare values";
}

TEST(XmlEscapeTest, EscapesMarkupAndRepairsBytes) {
  EXPECT_EQ(XmlEscape("std::vector<int>::operator<<(a&b, \"c\", 'd')"),
            "std::vector&lt;int&gt;::operator&lt;&lt;(a&amp;b, &quot;c&quot;, &apos;d&apos;)");
  EXPECT_EQ(XmlEscape(std::string("a\x01") + "b\x7f" + "c\nd"), "a?b?c?d");
  EXPECT_EQ(XmlEscape("\xc3\xa9t\xc3\xa9"), "\xc3\xa9t\xc3\xa9") << "valid UTF-8 kept";
  EXPECT_EQ(XmlEscape("x\xc3"), "x\xEF\xBF\xBD") << "a truncated sequence";
  EXPECT_EQ(XmlEscape("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD") << "an overlong '/'";
  EXPECT_EQ(XmlEscape("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD") << "a surrogate";
}

// The <g> frames of an SVG, read back with plain string searches (std::regex of GCC 12 warns
// -Wmaybe-uninitialized inside libstdc++ under ASan).
struct SvgFrame {
  std::string kind, title, label;
  double x, width;
};
std::string Between(const std::string& text, size_t& at, std::string_view open,
                    std::string_view close) {
  const size_t start = text.find(open, at) + open.size();
  const size_t end = text.find(close, start);
  at = end + close.size();
  return text.substr(start, end - start);
}
std::vector<SvgFrame> Frames(const std::string& svg) {
  std::vector<SvgFrame> out;
  for (size_t at = svg.find("<g class=\"f "); at != std::string::npos;
       at = svg.find("<g class=\"f ", at)) {
    SvgFrame frame;
    frame.kind = Between(svg, at, "<g class=\"f ", "\"");
    frame.title = Between(svg, at, "<title>", "</title>");
    frame.x = std::stod(Between(svg, at, "<rect x=\"", "\""));
    frame.width = std::stod(Between(svg, at, "width=\"", "\""));
    frame.label = Between(svg, at, "\">", "</text></g>");
    out.push_back(std::move(frame));
  }
  return out;
}
const SvgFrame* Find(const std::vector<SvgFrame>& frames, const std::string& title_start) {
  for (const SvgFrame& f : frames) {
    if (f.title.starts_with(title_start)) return &f;
  }
  return nullptr;
}

TEST(FlameGraphSvgTest, FramesHaveKindsTooltipsAndPercentages) {
  const std::string svg = FlameGraphSvg(Known());
  EXPECT_TRUE(svg.starts_with("<?xml"));
  EXPECT_NE(svg.find("<script type=\"text/ecmascript\"><![CDATA["), std::string::npos);
  EXPECT_NE(svg.find(">python3 app.py · 1.0 s at 99 Hz · 100 samples</text>"), std::string::npos);
  const std::vector<SvgFrame> frames = Frames(svg);
  ASSERT_EQ(frames.size(), 7u) << "all + the 6 nodes of the call tree";
  EXPECT_EQ(frames[0].kind, "r");
  EXPECT_EQ(frames[0].title, "all\n100 samples, 100.00%");

  const SvgFrame* hot = Find(frames, "hot (app.py:12)\n");
  ASSERT_NE(hot, nullptr);
  EXPECT_EQ(hot->kind, "p");
  EXPECT_EQ(hot->title, "hot (app.py:12)\n/srv/app.py:12\n75 samples, 75.00%");
  EXPECT_NEAR(hot->width, 0.75 * 1180, 0.01);
  const SvgFrame* cold = Find(frames, "cold (app.py:20)\n");
  ASSERT_NE(cold, nullptr);
  EXPECT_EQ(cold->title, "cold (app.py:20)\n/srv/app.py:20\n20 samples, 20.00%")
      << "both threads' samples merged";
  const SvgFrame* kernel = Find(frames, "ksys_write\n");
  ASSERT_NE(kernel, nullptr);
  EXPECT_EQ(kernel->kind, "k");
  EXPECT_EQ(kernel->title, "ksys_write\n[kernel.kallsyms]\n5 samples, 5.00%");
  const SvgFrame* main = Find(frames, "main\n");
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(main->kind, "n");
  EXPECT_EQ(main->title, "main\n/usr/bin/python3.11\n100 samples, 100.00%");
  EXPECT_EQ(main->label, "main");
}

TEST(FlameGraphSvgTest, ChildrenSitInsideTheirParentAlphabetically) {
  const std::vector<SvgFrame> frames = Frames(FlameGraphSvg(Known()));
  const SvgFrame* module = Find(frames, "<module>");
  ASSERT_EQ(module, nullptr) << "names are escaped";
  module = Find(frames, "&lt;module&gt; (app.py:30)");
  const SvgFrame* cold = Find(frames, "cold");
  const SvgFrame* hot = Find(frames, "hot");
  ASSERT_TRUE(module && cold && hot);
  EXPECT_NEAR(cold->x, module->x, 0.01);
  EXPECT_NEAR(hot->x, cold->x + cold->width, 0.01);
  EXPECT_LE(hot->x + hot->width, module->x + module->width + 0.01);
}

TEST(FlameGraphSvgTest, EscapesCppNamesEverywhere) {
  StackProfile p;
  p.AddStack({p.InternFrame(Native("std::vector<int>::operator<<(\"a\" & 'b')", "/lib/<x>.so"))},
             1);
  p.info.title = "run <&>";
  const std::string svg = FlameGraphSvg(p);
  EXPECT_EQ(svg.find("vector<int>"), std::string::npos);
  EXPECT_EQ(svg.find("run <&>"), std::string::npos);
  EXPECT_NE(svg.find("std::vector&lt;int&gt;::operator&lt;&lt;(&quot;a&quot; &amp; &apos;b&apos;)"),
            std::string::npos);
  EXPECT_NE(svg.find("/lib/&lt;x&gt;.so"), std::string::npos);
  EXPECT_NE(svg.find("run &lt;&amp;&gt;"), std::string::npos);
  // Every '&' outside the script starts an entity.
  const std::string markup = svg.substr(0, svg.find("<script"));
  for (size_t i = markup.find('&'); i != std::string::npos; i = markup.find('&', i + 1)) {
    const std::string rest = markup.substr(i, 6);
    EXPECT_TRUE(rest.starts_with("&lt;") || rest.starts_with("&gt;") || rest.starts_with("&amp;") ||
                rest.starts_with("&quot;") || rest.starts_with("&apos;"))
        << rest;
  }
}

TEST(FlameGraphSvgTest, NarrowFramesAreMergedPerParent) {
  StackProfile p;
  const uint32_t root = p.InternFrame(Native("root"));
  p.AddStack({root, p.InternFrame(Native("wide"))}, 900);
  for (int i = 0; i < 100; ++i)
    p.AddStack({root, p.InternFrame(Native("n" + std::to_string(i)))}, 1);
  // 100 frames of 0.1% each: under a 0.5% minimum they become one frame of 10%.
  const std::vector<SvgFrame> frames =
      Frames(FlameGraphSvg(p, FlameGraphOptions{.min_width_percent = 0.5}));
  ASSERT_EQ(frames.size(), 4u);
  const SvgFrame* merged = Find(frames, "[100 narrow frames]");
  ASSERT_NE(merged, nullptr);
  EXPECT_EQ(merged->kind, "m");
  EXPECT_NE(merged->title.find("100 samples, 10.00%"), std::string::npos);
  EXPECT_EQ(Find(frames, "n1\n"), nullptr);
  EXPECT_NE(FlameGraphSvg(p, FlameGraphOptions{.min_width_percent = 0.5})
                .find(">frames under 5 samples merged</text>"),
            std::string::npos);
  // With no minimum every frame is drawn.
  EXPECT_EQ(Frames(FlameGraphSvg(p, FlameGraphOptions{.min_width_percent = 0})).size(), 103u);
}

TEST(FlameGraphSvgTest, FrameCountIsBounded) {
  StackProfile p;
  const uint32_t root = p.InternFrame(Native("root"));
  for (int i = 0; i < 5000; ++i) {
    p.AddStack({root, p.InternFrame(Native("f" + std::to_string(i))),
                p.InternFrame(Native("g" + std::to_string(i)))},
               1 + i);
  }
  const std::string svg =
      FlameGraphSvg(p, FlameGraphOptions{.min_width_percent = 0, .max_frames = 500});
  const std::vector<SvgFrame> frames = Frames(svg);
  EXPECT_LE(frames.size(), 500u);
  // The minimum width doubles until the frames fit: the widest stacks stay, the rest merge.
  EXPECT_GT(frames.size(), 100u);
  EXPECT_NE(Find(frames, "f4999\n"), nullptr);
  const SvgFrame* merged = Find(frames, "[");
  ASSERT_NE(merged, nullptr);
  EXPECT_EQ(merged->kind, "m");
  EXPECT_LT(svg.size(), 500u * 300 + 20'000);
}

TEST(FlameGraphSvgTest, EmptyProfileIsAValidGraph) {
  const std::string svg = FlameGraphSvg(StackProfile());
  const std::vector<SvgFrame> frames = Frames(svg);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].title, "all\n0 samples, 0.00%");
}

TEST(ViewFormatTest, FromNamesAndPaths) {
  EXPECT_EQ(ParseViewFormat("svg"), ViewFormat::kSvg);
  EXPECT_EQ(ParseViewFormat("pprof"), std::nullopt);
  EXPECT_EQ(ViewFormatOfPath("out/p.svg"), ViewFormat::kSvg);
  EXPECT_EQ(ViewFormatOfPath("p.speedscope.json"), ViewFormat::kSpeedscope);
  EXPECT_EQ(ViewFormatOfPath("p.txt"), ViewFormat::kCollapsed);
  EXPECT_EQ(ViewFormatOfPath("p.pprof"), std::nullopt);
}

// pprof as profkit writes it (pipeline/profile_assembly.cc) back to stacks.
TEST(StackProfileFromPprofTest, KindsInlinedFramesThreadsAndValue) {
  PprofBuilder b(ProfileHeader{.sample_types = {{"samples", "count"}, {"cpu", "nanoseconds"}},
                               .period_type = {"cpu", "nanoseconds"},
                               .period = 10'000'000,
                               .duration_nanos = 2'000'000'000});
  const uint64_t exe = b.AddMapping({.filename = "/usr/bin/app", .has_functions = true});
  const uint64_t kernel = b.AddMapping({.filename = "[kernel.kallsyms]", .has_functions = true});
  const uint64_t leaf = b.AddLocation({.mapping_id = kernel, .lines = {{.function_name = "k"}}});
  // `inner` inlined into `outer`: innermost first.
  const uint64_t native =
      b.AddLocation({.mapping_id = exe,
                     .address = 0x10,
                     .lines = {{.function_name = "inner", .filename = "a.c", .line = 3},
                               {.function_name = "outer", .filename = "a.c", .line = 9}}});
  const uint64_t py = b.AddLocation(
      {.lines = {{.function_name = "handler", .filename = "/srv/app.py", .line = 7}}});
  const uint64_t raw = b.AddLocation({.mapping_id = exe, .address = 0xabc});
  const PprofLabel labels[] = {{.key = "tid", .num = 8, .numeric = true},
                               {.key = "thread_name", .str = "worker"}};
  const uint64_t stack1[] = {leaf, native, py};
  const int64_t values1[] = {3, 30'000'000};
  b.AddSample(stack1, values1, labels);
  const uint64_t stack2[] = {raw};
  const int64_t values2[] = {2, 20'000'000};
  b.AddSample(stack2, values2, {});
  Result<perftools::profiles::Profile> parsed = ParsePprof(b.SerializeUncompressed(), 1 << 20);
  ASSERT_TRUE(parsed.ok());

  const StackProfile p = StackProfileFromPprof(*parsed);
  EXPECT_EQ(p.total(), 5) << "the samples value, not cpu";
  EXPECT_EQ(p.info.period_ns, 10'000'000);
  EXPECT_EQ(p.info.duration_ns, 2'000'000'000);
  ASSERT_EQ(p.stacks().size(), 2u);
  std::vector<std::string> names;
  for (uint32_t f : p.stacks()[0].frames) names.push_back(p.frames()[f].function);
  EXPECT_EQ(names, (std::vector<std::string>{"handler", "outer", "inner", "k"}));
  EXPECT_EQ(p.frames()[p.stacks()[0].frames[0]].kind, FrameKind::kPython);
  EXPECT_EQ(p.frames()[p.stacks()[0].frames[1]].kind, FrameKind::kNative);
  EXPECT_EQ(p.frames()[p.stacks()[0].frames[1]].module, "/usr/bin/app");
  EXPECT_EQ(p.frames()[p.stacks()[0].frames[3]].kind, FrameKind::kKernel);
  EXPECT_EQ(p.threads()[p.stacks()[0].thread], "worker (8)");
  EXPECT_EQ(p.frames()[p.stacks()[1].frames[0]].function, "/usr/bin/app+0xabc");
  EXPECT_EQ(CollapsedText(p),
            "/usr/bin/app+0xabc 2\nhandler (/srv/app.py:7);outer;inner;k_[k] 3\n");
}

}  // namespace
}  // namespace profkit::profile
