#include "mesos/container_id.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace tb::mesos {
namespace {

TEST(ContainerIdTest, Uuid4HasVersionAndVariant) {
  const std::regex form("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int i = 0; i < 100; ++i) {
    std::string uuid = NewUuid4();
    EXPECT_TRUE(std::regex_match(uuid, form)) << uuid;
  }
}

TEST(ContainerIdTest, Uuid4Unique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(seen.insert(NewUuid4()).second);
}

TEST(ContainerIdTest, SessionIdKeepsWholeChain) {
  const nlohmann::json parent = nlohmann::json::parse(
      R"({"value":"task","parent":{"value":"executor","parent":{"value":"root"}}})");
  nlohmann::json id = SessionContainerId(parent, "session");
  EXPECT_EQ(id["value"], "session");
  EXPECT_EQ(id["parent"], parent);
  EXPECT_EQ(id["parent"]["parent"]["parent"]["value"], "root");
}

TEST(ContainerIdTest, SessionIdCopiesUnknownFields) {
  const nlohmann::json parent = nlohmann::json::parse(R"({"value":"task","extra":[1,2]})");
  EXPECT_EQ(SessionContainerId(parent, "s")["parent"], parent);
}

TEST(ContainerIdTest, PathListsRootFirst) {
  const nlohmann::json id = nlohmann::json::parse(
      R"({"value":"session","parent":{"value":"child","parent":{"value":"root"}}})");
  EXPECT_EQ(ContainerIdPath(id), "root.child.session");
}

TEST(ContainerIdTest, PathOfTopLevelContainer) {
  EXPECT_EQ(ContainerIdPath(nlohmann::json{{"value", "abc"}}), "abc");
}

TEST(ContainerIdTest, PathMarksMissingValue) {
  const nlohmann::json id =
      nlohmann::json::parse(R"({"value":"s","parent":{"parent":{"value":"r"}}})");
  EXPECT_EQ(ContainerIdPath(id), "r.?.s");
}

TEST(ContainerIdTest, PathOfNonObjectIsEmpty) {
  EXPECT_EQ(ContainerIdPath(nlohmann::json()), "");
  EXPECT_EQ(ContainerIdPath(nlohmann::json("x")), "");
}

}  // namespace
}  // namespace tb::mesos
