#pragma once

#include <chrono>

#include "profkit/forward/upload.h"

namespace profkit::forward {

// Where finished profiles go: local files or Dataway.
class ProfileSink {
 public:
  virtual ~ProfileSink() = default;
  virtual void Submit(ProfileUpload upload) = 0;
  // Delivers or gives up on everything submitted, within `deadline`; logs what is dropped.
  virtual void Flush(std::chrono::steady_clock::time_point deadline) = 0;
};

}  // namespace profkit::forward
