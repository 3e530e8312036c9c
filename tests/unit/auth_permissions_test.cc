#include "auth/permissions.h"

#include <gtest/gtest.h>

namespace tb::auth {
namespace {

TEST(RidEncodingTest, SlashIsDoubleEncoded) {
  EXPECT_EQ(EncodeRidForPath("dcos:mesos:agent:container:app_id:/dev/web"),
            "dcos:mesos:agent:container:app_id:%252Fdev%252Fweb");
}

TEST(RidEncodingTest, ColonStarAndUnreservedStay) {
  EXPECT_EQ(EncodeRidForPath("dcos:mesos:master:framework:role:*"),
            "dcos:mesos:master:framework:role:*");
  EXPECT_EQ(EncodeRidForPath("a-b.c_d~e"), "a-b.c_d~e");
}

TEST(RidEncodingTest, OtherBytesDoubleEncoded) {
  EXPECT_EQ(EncodeRidForPath("app_id:/a b?%"), "app_id:%252Fa%2520b%253F%2525");
  EXPECT_EQ(EncodeRidForPath("\xc3\xa9"), "%25C3%25A9");
}

TEST(PathSegmentTest, UidEncodedOnce) {
  EXPECT_EQ(EncodePathSegment("alice@example.com"), "alice@example.com");
  EXPECT_EQ(EncodePathSegment("a/b c"), "a%2Fb%20c");
  EXPECT_EQ(EncodePathSegment("update"), "update");
}

TEST(AppIdTest, Normalized) {
  EXPECT_EQ(NormalizeAppId("/dev/web"), "/dev/web");
  EXPECT_EQ(NormalizeAppId("dev/web/"), "/dev/web");
  EXPECT_EQ(NormalizeAppId("web"), "/web");
  EXPECT_EQ(NormalizeAppId(""), "/");
}

TEST(ExecPermissionsTest, DocumentedTaskExecSet) {
  std::vector<Permission> expected = {
      {"dcos:adminrouter:ops:mesos", "full"},
      {"dcos:adminrouter:ops:slave", "full"},
      {"dcos:mesos:agent:nested_container_session:app_id:/dev/web", "create"},
      {"dcos:mesos:agent:container:app_id:/dev/web", "read"},
      {"dcos:mesos:agent:container:app_id:/dev/web", "update"},
  };
  EXPECT_EQ(ExecPermissions("dev/web"), expected);
  EXPECT_EQ(expected[4].ToString(), "dcos:mesos:agent:container:app_id:/dev/web update");
}

TEST(CoveringRidsTest, ParentGroupsThenBareRid) {
  std::vector<std::string> expected = {
      "dcos:mesos:agent:container:app_id:/dev/team/web",
      "dcos:mesos:agent:container:app_id:/dev/team",
      "dcos:mesos:agent:container:app_id:/dev",
      "dcos:mesos:agent:container:app_id",
  };
  EXPECT_EQ(CoveringRids("dcos:mesos:agent:container:app_id:/dev/team/web"), expected);
}

TEST(CoveringRidsTest, TopLevelAppAndRidWithoutApp) {
  EXPECT_EQ(CoveringRids("dcos:mesos:agent:container:app_id:/web"),
            (std::vector<std::string>{"dcos:mesos:agent:container:app_id:/web",
                                      "dcos:mesos:agent:container:app_id"}));
  EXPECT_EQ(CoveringRids("dcos:adminrouter:ops:mesos"),
            (std::vector<std::string>{"dcos:adminrouter:ops:mesos"}));
}

}  // namespace
}  // namespace tb::auth
