#include "profkit/profile/speedscope_writer.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

namespace profkit::profile {
namespace {

using nlohmann::json;

json FrameJson(const ViewFrame& frame) {
  json out = {{"name", frame.function.empty() ? std::string("[unknown]") : frame.function}};
  if (!frame.file.empty()) {
    out["file"] = frame.file;
  } else if (!frame.module.empty()) {
    out["file"] = frame.module;
  }
  if (frame.line > 0) out["line"] = frame.line;
  return out;
}

int64_t Scaled(int64_t value, int64_t factor) {
  int64_t out = 0;
  return __builtin_mul_overflow(value, factor, &out) ? std::numeric_limits<int64_t>::max() : out;
}

}  // namespace

std::string SpeedscopeJson(const StackProfile& profile) {
  const ProfileInfo& info = profile.info;
  std::string unit = "none";
  int64_t factor = 1;
  if (info.value_unit == "nanoseconds") {
    unit = "nanoseconds";
  } else if (info.value_unit == "count" && info.period_ns > 0) {
    unit = "nanoseconds";
    factor = info.period_ns;
  }

  json frames = json::array();
  for (const ViewFrame& frame : profile.frames()) frames.push_back(FrameJson(frame));

  struct Thread {
    json samples = json::array();
    json weights = json::array();
    int64_t total = 0;
  };
  std::vector<Thread> threads(profile.threads().size());
  for (const StackProfile::Stack& stack : profile.stacks()) {
    Thread& thread = threads[stack.thread];
    const int64_t weight = Scaled(stack.value, factor);
    thread.samples.push_back(stack.frames);
    thread.weights.push_back(weight);
    if (__builtin_add_overflow(thread.total, weight, &thread.total)) {
      thread.total = std::numeric_limits<int64_t>::max();
    }
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < threads.size(); ++i) {
    if (!threads[i].weights.empty()) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return threads[a].total > threads[b].total; });

  json profiles = json::array();
  for (size_t i : order) {
    const std::string& name = profile.threads()[i];
    profiles.push_back({{"type", "sampled"},
                        {"name", name.empty() ? std::string("all threads") : name},
                        {"unit", unit},
                        {"startValue", 0},
                        {"endValue", threads[i].total},
                        {"samples", std::move(threads[i].samples)},
                        {"weights", std::move(threads[i].weights)}});
  }
  const json out = {{"$schema", "https://www.speedscope.app/file-format-schema.json"},
                    {"name", info.title.empty() ? std::string("profkit") : info.title},
                    {"exporter", "profkit"},
                    {"activeProfileIndex", 0},
                    {"shared", {{"frames", std::move(frames)}}},
                    {"profiles", std::move(profiles)}};
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace profkit::profile
