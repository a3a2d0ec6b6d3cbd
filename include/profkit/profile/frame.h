// The unsymbolized stack representation that flows from sampling to aggregation. Frames are
// independent of a process's lifetime: native addresses are already translated to
// (module, file offset), so samples of an exited process still symbolize at flush time, and the
// same library code in many processes aggregates to the same frames.
//
// A new unwinder (e.g. CPython frames) adds a FrameKind and gives meaning to `module_id` and
// `address` for it; aggregation and the symbolization dispatch key on the kind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <tuple>
#include <string>
#include <utility>
#include <vector>

namespace profkit::profile {

enum class FrameKind : uint8_t {
  kKernel = 1,  // address: kernel instruction pointer; module_id: 0
  kNative = 2,  // address: offset in the module's file (raw IP when module_id == kUnknownModule)
  kPython = 3,  // module_id: function id (python::FunctionTable); address: source line
};

inline constexpr uint32_t kUnknownModule = 0;

struct Frame {
  FrameKind kind = FrameKind::kNative;
  // False for the innermost frame; callers' addresses are return addresses, so their line is
  // looked up at address - 1 (the call instruction).
  bool is_return_address = false;
  uint32_t module_id = kUnknownModule;
  uint64_t address = 0;

  bool operator==(const Frame&) const = default;
};
// An interval's stacks hold every frame of every distinct stack (a C++ build's are 50-100 deep and
// nearly all distinct: 8 MiB a minute at 24 bytes a frame); the two small fields share a word.
static_assert(sizeof(Frame) == 16, "Frame grew: the flags go before module_id");

struct FrameHash {
  size_t operator()(const Frame& f) const noexcept {
    uint64_t h = f.address * 0x9e3779b97f4a7c15ULL;
    h ^= (static_cast<uint64_t>(f.module_id) << 9) ^ (static_cast<uint64_t>(f.kind) << 1) ^
         static_cast<uint64_t>(f.is_return_address);
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

// One sampled stack of one thread, innermost frame first.
struct StackSample {
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string thread_name;
  std::vector<Frame> frames;
  // The user stack was deeper than the unwinder's limit: the outermost frames are missing.
  bool truncated = false;

  bool operator==(const StackSample&) const = default;
};

// The identity a profile is uploaded under: one profile per distinct key per interval.
struct ServiceKey {
  std::string service;
  std::string env;
  std::string version;
  std::string language;         // "cpp" for native programs (DataKit's language value for C/C++)
  std::string runtime_version;  // e.g. "3.11.2" for CPython; "" for native programs
  // Where the processes run: container_id, container_runtime, pod_uid and the pod's tags, sorted
  // by key; none on the host. Part of the key, so two containers (pods) of one service are two
  // profiles, each tagged with its own.
  std::vector<std::pair<std::string, std::string>> tags;

  bool operator==(const ServiceKey&) const = default;
  bool operator<(const ServiceKey& o) const {
    return std::tie(service, env, version, language, runtime_version, tags) <
           std::tie(o.service, o.env, o.version, o.language, o.runtime_version, o.tags);
  }
};

}  // namespace profkit::profile
