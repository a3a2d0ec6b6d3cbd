#include "profkit/common/status.h"

#include <cstring>

namespace profkit {

Status Status::FromErrno(std::string_view what, int err) {
  return Status(fmt::format("{}: {}", what, std::strerror(err)));
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return message_ ? *message_ : kEmpty;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(fmt::format("{}: {}", context, *message_));
}

}  // namespace profkit
