// DecodeThreadLocalAccessor on the machine code of PyGILState_GetThisThreadState as Debian sid
// builds it (python3.15 3.15.2-1: the static /usr/bin/python3.15 and python3.15-nopie, and
// libpython3.15.so.1.0), plus compiler variants of the same sequences and bodies it must refuse.
#include "profkit/python/thread_local.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace profkit::python {
namespace {

using Model = ThreadLocalLocation::Model;

// /usr/bin/python3.15 @0x42fa7d: endbr64; mov %fs:0xffffffffffffffd8,%rax; ret (then the next
// function's bytes).
const std::vector<uint8_t> kStatic315 = {0xf3, 0x0f, 0x1e, 0xfa, 0x64, 0x48, 0x8b, 0x04, 0x25,
                                         0xd8, 0xff, 0xff, 0xff, 0xc3, 0x66, 0x0f, 0x6f, 0x45};
// libpython3.15.so.1.0 @0x3cf120: endbr64; push %rbp; mov %rsp,%rbp; lea 0x4aa661(%rip),%rdi;
// call __tls_get_addr@plt; pop %rbp; mov 0x28(%rax),%rax; ret.
const std::vector<uint8_t> kShared315 = {
    0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5, 0x48, 0x8d, 0x3d, 0x61, 0xa6, 0x4a, 0x00, 0xe8,
    0x5c, 0x9d, 0xcf, 0xff, 0x5d, 0x48, 0x8b, 0x80, 0x28, 0x00, 0x00, 0x00, 0xc3, 0x0f, 0x1f, 0x00};
// libpython3.14.so.1.0 @0x362a80: the 3.14 accessor goes through the TSS key, not a TLS variable.
const std::vector<uint8_t> kShared314 = {0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x8b, 0x05, 0xe5,
                                         0x40, 0x44, 0x00, 0x53, 0x48, 0x8d, 0x98, 0x20};

TEST(ThreadLocalAccessorTest, StaticExecutable) {
  auto location = DecodeThreadLocalAccessor(kStatic315, 0x42fa7d);
  ASSERT_TRUE(location.ok()) << location.status().message();
  EXPECT_EQ(location->model, Model::kStaticTls);
  EXPECT_EQ(location->offset, -0x28);
}

TEST(ThreadLocalAccessorTest, SharedLibrary) {
  auto location = DecodeThreadLocalAccessor(kShared315, 0x3cf120);
  ASSERT_TRUE(location.ok()) << location.status().message();
  EXPECT_EQ(location->model, Model::kDynamicTls);
  // The lea ends at 0x3cf12f; 0x3cf12f + 0x4aa661 is the GOT's tls_index (R_X86_64_DTPMOD64).
  EXPECT_EQ(location->tls_index_address, 0x879790u);
  EXPECT_EQ(location->offset, 0x28);
}

TEST(ThreadLocalAccessorTest, CompilerVariants) {
  // No endbr64 or frame pointer, padded general-dynamic sequence, 8-bit displacement.
  const std::vector<uint8_t> padded = {0x66, 0x48, 0x8d, 0x3d, 0x10, 0x00, 0x00,
                                       0x00, 0x66, 0x66, 0x48, 0xe8, 0x00, 0x00,
                                       0x00, 0x00, 0x48, 0x8b, 0x40, 0x08, 0xc3};
  auto location = DecodeThreadLocalAccessor(padded, 0x1000);
  ASSERT_TRUE(location.ok()) << location.status().message();
  EXPECT_EQ(location->tls_index_address, 0x1000u + 8 + 0x10);
  EXPECT_EQ(location->offset, 8);
  // Call through the GOT (-fno-plt), no displacement.
  const std::vector<uint8_t> no_plt = {0x48, 0x8d, 0x3d, 0xf0, 0xff, 0xff, 0xff, 0xff, 0x15,
                                       0x00, 0x00, 0x00, 0x00, 0x48, 0x8b, 0x00, 0xc3};
  location = DecodeThreadLocalAccessor(no_plt, 0x2000);
  ASSERT_TRUE(location.ok()) << location.status().message();
  EXPECT_EQ(location->tls_index_address, 0x2000u + 7 - 0x10);
  EXPECT_EQ(location->offset, 0);
  // Frame pointer kept until the end.
  const std::vector<uint8_t> framed = {0x55, 0x48, 0x89, 0xe5, 0x64, 0x48, 0x8b, 0x04,
                                       0x25, 0xf0, 0xff, 0xff, 0xff, 0x5d, 0xc3};
  location = DecodeThreadLocalAccessor(framed, 0);
  ASSERT_TRUE(location.ok()) << location.status().message();
  EXPECT_EQ(location->model, Model::kStaticTls);
  EXPECT_EQ(location->offset, -0x10);
}

TEST(ThreadLocalAccessorTest, RefusesOtherBodiesNamingTheByte) {
  auto location = DecodeThreadLocalAccessor(kShared314, 0x362a80);
  ASSERT_FALSE(location.ok());
  EXPECT_EQ(location.status().message(),
            "PyGILState_GetThisThreadState: byte 4: expected mov %fs:DISP,%rax or lea "
            "GOT(%rip),%rdi");
  // Every truncation of the real bodies is an error, never a read past the end.
  for (const auto* body : {&kStatic315, &kShared315}) {
    const size_t complete = body == &kStatic315 ? 14 : 29;
    for (size_t size = 0; size < complete; ++size) {
      std::vector<uint8_t> cut(body->begin(), body->begin() + size);
      EXPECT_FALSE(DecodeThreadLocalAccessor(cut, 0).ok()) << size;
    }
  }
  // A load into another register is not the accessor's result.
  std::vector<uint8_t> wrong_register = kShared315;
  wrong_register[22] = 0x8b;
  wrong_register[23] = 0x88;  // mov 0x28(%rax),%rcx
  EXPECT_NE(
      DecodeThreadLocalAccessor(wrong_register, 0).status().message().find("mov DISP(%rax),%rax"),
      std::string::npos);
  // No return after the load: more code follows that this decoder does not understand.
  std::vector<uint8_t> no_return = kStatic315;
  no_return[13] = 0x90;
  EXPECT_NE(DecodeThreadLocalAccessor(no_return, 0).status().message().find("ret"),
            std::string::npos);
}

}  // namespace
}  // namespace profkit::python
