#include "profkit/config/address.h"

#include <gtest/gtest.h>

namespace profkit::config {
namespace {

TEST(ParseListenAddressTest, HostPortForms) {
  Result<ListenAddress> v4 = ParseListenAddress("127.0.0.1:9529");
  ASSERT_TRUE(v4.ok()) << v4.status().message();
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 9529);

  Result<ListenAddress> name = ParseListenAddress("localhost:1");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->host, "localhost");
  EXPECT_EQ(name->port, 1);

  Result<ListenAddress> v6 = ParseListenAddress("[::1]:65535");
  ASSERT_TRUE(v6.ok()) << v6.status().message();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 65535);

  Result<ListenAddress> any = ParseListenAddress(":9529");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->host, "0.0.0.0");
}

TEST(ParseListenAddressTest, RejectsBadPortsAndHosts) {
  EXPECT_EQ(
      ParseListenAddress("127.0.0.1:0").status().message(),
      "invalid address \"127.0.0.1:0\": port must be a number between 1 and 65535, got \"0\"");
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:65536").ok());
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:").ok());
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:-1").ok());
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:95x").ok());
  EXPECT_EQ(ParseListenAddress("127.0.0.1").status().message(),
            "invalid address \"127.0.0.1\": expected \"host:port\"");
  EXPECT_EQ(
      ParseListenAddress("::1:9529").status().message(),
      "invalid address \"::1:9529\": IPv6 addresses must be in brackets, e.g. \"[::1]:9529\"");
  EXPECT_FALSE(ParseListenAddress("[::1:9529").ok());
  EXPECT_FALSE(ParseListenAddress("[::1]9529").ok());
  EXPECT_FALSE(ParseListenAddress("[not-v6]:9529").ok());
  EXPECT_FALSE(ParseListenAddress("bad host:9529").ok());
  EXPECT_FALSE(ParseListenAddress("").ok());
}

TEST(ValidateHttpUrlTest, AcceptsHttpUrls) {
  for (const char* url : {"https://openway.guance.com?token=tkn_xxx", "http://127.0.0.1:9528",
                          "http://localhost:8080/v1/write/profiling?token=a&b=c",
                          "https://[::1]:443/path", "HTTPS://example.com/"}) {
    EXPECT_TRUE(ValidateHttpUrl(url).ok()) << url << ": " << ValidateHttpUrl(url).message();
  }
}

TEST(ValidateHttpUrlTest, RejectsOtherUrls) {
  for (const char* url :
       {"ftp://example.com/", "openway.guance.com?token=x", "https://",
        "http://user:pw@example.com/", "http://example.com/#frag", "http://example.com:0/",
        "http://example.com:65536/", "http://example.com:port/", "http://exa mple.com/",
        "http://example.com/\n", "https:/example.com", "file:///etc/passwd"}) {
    const Status status = ValidateHttpUrl(url);
    EXPECT_FALSE(status.ok()) << url;
    EXPECT_EQ(status.message().find('\n'), std::string::npos) << status.message();
  }
  EXPECT_EQ(ValidateHttpUrl("ftp://example.com/").message(),
            "invalid URL \"ftp://example.com/\": must start with http:// or https://");
  EXPECT_FALSE(ValidateHttpUrl("https://example.com/?" + std::string(kMaxUrlBytes, 'a')).ok());
}

}  // namespace
}  // namespace profkit::config
