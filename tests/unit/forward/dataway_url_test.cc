#include "profkit/forward/dataway_url.h"

#include <gtest/gtest.h>

#include "profkit/common/http_client.h"

namespace profkit::forward {
namespace {

TEST(DatawayUrlTest, ReplacesPathAndSortsQuery) {
  const Result<std::string> url = DatawayUploadUrl("https://host:9528/any/path?token=x&b=y");
  ASSERT_TRUE(url.ok()) << url.status().message();
  EXPECT_EQ(*url, "https://host:9528/v1/upload/profiling?b=y&token=x");
}

TEST(DatawayUrlTest, ReencodesLikeGo) {
  EXPECT_EQ(*DatawayUploadUrl("http://h/?z=a+b&a=%2f%41&a=1&flag&&c=x%3Dy"),
            "http://h/v1/upload/profiling?a=%2FA&a=1&c=x%3Dy&flag=&z=a+b");
  EXPECT_EQ(*DatawayUploadUrl("http://h"), "http://h/v1/upload/profiling");
  EXPECT_EQ(*DatawayUploadUrl("HTTP://user:pw@h:80/x#frag"), "http://h:80/v1/upload/profiling");
}

TEST(DatawayUrlTest, RejectsBadUrlsWithoutLeakingTheToken) {
  for (const char* bad :
       {"ftp://h/?token=secret", "h:9528?token=secret", "", "http://h/?token=secret%zz",
        "http://h/?token=secret;x=1", "http:///?token=secret"}) {
    const Result<std::string> url = DatawayUploadUrl(bad);
    ASSERT_FALSE(url.ok()) << bad;
    EXPECT_EQ(url.status().message().find("secret"), std::string::npos) << url.status().message();
    EXPECT_EQ(url.status().message().rfind("dataway url ", 0), 0u) << url.status().message();
  }
}

TEST(UrlWithoutSecretsTest, DropsQueryFragmentAndUserInfo) {
  EXPECT_EQ(UrlWithoutSecrets("https://host:1/v1/upload/profiling?token=tkn_x"),
            "https://host:1/v1/upload/profiling");
  EXPECT_EQ(UrlWithoutSecrets("http://u:p@host/p#frag"), "http://host/p");
  EXPECT_EQ(UrlWithoutSecrets("http://host/a@b?x=@"), "http://host/a@b");
  EXPECT_EQ(UrlWithoutSecrets("no-scheme?token=1"), "no-scheme");
}

}  // namespace
}  // namespace profkit::forward
