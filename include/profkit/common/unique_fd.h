// One owner for a file descriptor: closed when the owner goes, moved but never copied, so every
// early return closes what was opened and nothing is closed twice.
#pragma once

#include <unistd.h>

#include <utility>

namespace profkit {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives the descriptor up without closing it (e.g. to an object that closes it itself).
  int release() { return std::exchange(fd_, -1); }

  // Closes the owned descriptor, if any, and owns `fd` instead.
  void reset(int fd = -1) {
    const int old = std::exchange(fd_, fd);
    if (old >= 0) ::close(old);
  }

  // Closes now and reports close's result (0, or -1 with errno set): for writes whose errors only
  // show at close (NFS, quota). Afterwards the owner holds nothing.
  int Close() {
    const int old = release();
    return old >= 0 ? ::close(old) : 0;
  }

 private:
  int fd_ = -1;
};

}  // namespace profkit
