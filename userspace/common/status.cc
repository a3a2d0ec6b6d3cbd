#include "profkit/common/status.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace profkit {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidInput:
      return "invalid_input";
    case StatusCode::kTooLarge:
      return "too_large";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kPermissionDenied:
      return "permission_denied";
    case StatusCode::kUnsupported:
      return "unsupported";
    case StatusCode::kInternal:
      return "internal";
  }
  return "unknown";
}

StatusCode StatusCodeForErrno(int err) {
  switch (err) {
    case 0:
      return StatusCode::kInternal;  // a caller that lost errno: still an error
    case ENOENT:
    case ENOTDIR:
    case ESRCH:  // the process is gone
    case ENXIO:
      return StatusCode::kNotFound;
    case EACCES:
    case EPERM:
    case EROFS:
      return StatusCode::kPermissionDenied;
    case EAGAIN:
    case EINTR:
    case EBUSY:
    case ETIMEDOUT:
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
    case EPIPE:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN:
    case EADDRINUSE:
      return StatusCode::kUnavailable;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
    case E2BIG:
    case EMSGSIZE:
    case ENAMETOOLONG:
    case EOVERFLOW:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
      return StatusCode::kTooLarge;
    case EINVAL:
    case EBADMSG:
    case EILSEQ:
    case ERANGE:
      return StatusCode::kInvalidInput;
    case ENOSYS:
    case EOPNOTSUPP:
    case EAFNOSUPPORT:
    case EPROTONOSUPPORT:
    case ENOEXEC:
      return StatusCode::kUnsupported;
    default:
      return StatusCode::kInternal;
  }
}

Status Status::FromErrno(std::string_view what, int err) {
  return Status(StatusCodeForErrno(err), fmt::format("{}: {}", what, std::strerror(err)), err);
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, fmt::format("{}: {}", context, message_), error_number_);
}

Status Status::WithHint(std::string_view hint) const {
  if (ok()) return *this;
  return Status(code_, fmt::format("{} ({})", message_, hint), error_number_);
}

namespace internal {

void DieOnErrorStatus(std::string_view what, const Status& status) {
  // stderr directly: the logger may not be set up (tests, early start), and this is the last line.
  std::fprintf(stderr, "profkit: fatal: %.*s [%.*s]: %s\n", static_cast<int>(what.size()),
               what.data(), static_cast<int>(StatusCodeName(status.code()).size()),
               StatusCodeName(status.code()).data(), status.message().c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace internal
}  // namespace profkit
