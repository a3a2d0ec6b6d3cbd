#include "profkit/forward/queued_request.h"

#include <cstdint>

namespace profkit::forward {
namespace {

constexpr char kVersion = 1;

void PutField(std::string_view field, std::string* out) {
  const auto length = static_cast<uint32_t>(field.size());
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  out->append(field);
}

Status GetField(std::string_view* in, std::string_view name, std::string* out) {
  if (in->size() < 4) return Status::InvalidInputf("queued request: truncated before the {}", name);
  uint32_t length = 0;
  for (int i = 0; i < 4; ++i) {
    length |= static_cast<uint32_t>(static_cast<unsigned char>((*in)[i])) << (8 * i);
  }
  in->remove_prefix(4);
  if (in->size() < length) return Status::InvalidInputf("queued request: truncated {}", name);
  out->assign(in->substr(0, length));
  in->remove_prefix(length);
  return Status::Ok();
}

}  // namespace

std::string EncodeQueuedRequest(const QueuedRequest& request) {
  std::string out;
  out.reserve(1 + 16 + request.path.size() + request.content_type.size() + request.service.size() +
              request.body.size());
  out.push_back(kVersion);
  PutField(request.path, &out);
  PutField(request.content_type, &out);
  PutField(request.service, &out);
  PutField(request.body, &out);
  return out;
}

Result<QueuedRequest> DecodeQueuedRequest(std::string_view record) {
  if (record.empty() || record[0] != kVersion) {
    return Status::Unsupported("queued request: unknown record version");
  }
  record.remove_prefix(1);
  QueuedRequest request;
  PROFKIT_RETURN_IF_ERROR(GetField(&record, "path", &request.path));
  PROFKIT_RETURN_IF_ERROR(GetField(&record, "content type", &request.content_type));
  PROFKIT_RETURN_IF_ERROR(GetField(&record, "service", &request.service));
  PROFKIT_RETURN_IF_ERROR(GetField(&record, "body", &request.body));
  if (!record.empty()) return Status::InvalidInput("queued request: trailing bytes");
  return request;
}

}  // namespace profkit::forward
