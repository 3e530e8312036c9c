#include "mesos/json_fields.h"

#include <gtest/gtest.h>

namespace tb::mesos {
namespace {

using Json = nlohmann::json;

TEST(JsonFieldsTest, ParseJsonReportsPositionOnly) {
  Result<Json> parsed = ParseJson(R"({"secret":"hunter2")", "GET_TASKS response");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("GET_TASKS response: invalid JSON at byte"),
            std::string::npos);
  EXPECT_EQ(parsed.status().message().find("hunter2"), std::string::npos);
}

TEST(JsonFieldsTest, Paths) {
  EXPECT_EQ(FieldPath("", "get_tasks"), "get_tasks");
  EXPECT_EQ(FieldPath("get_tasks", "tasks"), "get_tasks.tasks");
  EXPECT_EQ(ElementPath("get_tasks.tasks", 3), "get_tasks.tasks[3]");
}

TEST(JsonFieldsTest, OptionalStringAbsentOrNullIsNull) {
  const Json object = Json::parse(R"({"a":null})");
  Result<const std::string*> absent = OptionalString(object, "b", "x.b");
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ(*absent, nullptr);
  Result<const std::string*> null = OptionalString(object, "a", "x.a");
  ASSERT_TRUE(null.ok());
  EXPECT_EQ(*null, nullptr);
}

TEST(JsonFieldsTest, RequiredStringPresent) {
  const Json object = Json::parse(R"({"a":"v"})");
  Result<const std::string*> value = RequiredString(object, "a", "x.a");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(**value, "v");
}

TEST(JsonFieldsTest, RequiredStringMissing) {
  Result<const std::string*> value = RequiredString(Json::object(), "a", "x.a");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(value.status().message(), "x.a: missing");
}

TEST(JsonFieldsTest, WrongTypeNamesPath) {
  const Json object = Json::parse(R"({"a":[1],"o":"s"})");
  Result<const std::string*> string = RequiredString(object, "a", "x.a");
  ASSERT_FALSE(string.ok());
  EXPECT_EQ(string.status().message(), "x.a: expected a string, got array");
  Result<const Json*> nested = RequiredObject(object, "o", "x.o");
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.status().message(), "x.o: expected an object, got string");
  Result<const Json*> array = OptionalArray(object, "o", "x.o");
  ASSERT_FALSE(array.ok());
  EXPECT_EQ(array.status().message(), "x.o: expected an array, got string");
}

TEST(JsonFieldsTest, NonObjectParentRejected) {
  Result<const std::string*> value = OptionalString(Json::array(), "a", "x.a");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(value.status().message().find("x.a:"), std::string::npos);
}

}  // namespace
}  // namespace tb::mesos
