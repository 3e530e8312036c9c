#include "mesos/master_client.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "tests/unit/fake_http_client.h"

namespace tb::mesos {
namespace {

using ::tb::testing::FakeHttpClient;
using ::tb::testing::FakeResponse;
using ::tb::testing::HeaderValue;

constexpr const char* kM1 = "http://m1:5050/api/v1";
constexpr const char* kM2 = "http://m2:5050/api/v1";
constexpr const char* kM3 = "http://m3:5050/api/v1";

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

const char* const kTasksBody = R"({"type":"GET_TASKS","get_tasks":{"tasks":[{
  "name":"web","task_id":{"value":"web.1a2b"},"framework_id":{"value":"fw"},
  "agent_id":{"value":"agent-S3"},"state":"TASK_RUNNING","container":{"type":"MESOS"},
  "statuses":[{"timestamp":1.0,"container_status":{"container_id":
      {"value":"ctr","parent":{"value":"exec"}}}}]}]}})";

const char* const kAgentsBody = R"({"type":"GET_AGENTS","get_agents":{"agents":[
  {"agent_info":{"id":{"value":"agent-S3"},"hostname":"agent3","port":5051},
   "pid":"slave(1)@10.0.1.7:5051"}]}})";

FakeResponse Tasks() { return FakeResponse::Http(200, kTasksBody); }
FakeResponse Agents() { return FakeResponse::Http(200, kAgentsBody); }
FakeResponse Redirect(std::string location) {
  return FakeResponse::Http(307, "", {{"location", std::move(location)}});
}
FakeResponse Refused() {
  return FakeResponse::TransportError(Status::Unavailable("Couldn't connect to server"));
}

class MasterClientTest : public ::testing::Test {
 protected:
  MasterClientTest() : client_(http_, Options()) {}

  MasterClientOptions Options() {
    MasterClientOptions options;
    options.master_urls = {"http://m1:5050", "http://m2:5050/", "http://m3:5050"};
    options.call_timeout = std::chrono::milliseconds(10000);
    options.lookup_timeout = std::chrono::milliseconds(30000);
    options.first_retry_delay = std::chrono::milliseconds(250);
    options.max_retry_delay = std::chrono::milliseconds(4000);
    options.now = [this] { return now_; };
    return options;
  }

  // Looks up `selector` with `client` and runs the fake until `done` has run. Between rounds
  // the clock moves on by each retry delay, so the lookup's deadline is reached.
  void Find(MasterClient& client, std::string selector = "web",
            std::string authorization = "token=abc") {
    result_.reset();
    operation_ = client.FindTask(std::move(selector), std::move(authorization),
                                 [this](Result<TaskTarget> result) {
                                   ++calls_;
                                   result_.emplace(std::move(result));
                                 });
    EXPECT_FALSE(result_.has_value()) << "done ran inside FindTask";
    http_.RunPending();
    while (!result_.has_value() && http_.timer_delays().size() > timers_run_) {
      now_ += http_.timer_delays().back();
      timers_run_ = http_.timer_delays().size();
      http_.RunTimers();
    }
    ASSERT_TRUE(result_.has_value())
        << "no answer after " << http_.requests().size() << " requests";
  }
  void Find() { Find(client_); }

  // The clock MasterClient reads; only Find() and tests move it.
  std::chrono::steady_clock::time_point now_{};
  std::size_t timers_run_ = 0;

  std::vector<std::string> Urls() const {
    std::vector<std::string> urls;
    for (const HttpRequest& request : http_.requests()) urls.push_back(request.url);
    return urls;
  }

  FakeHttpClient http_;
  MasterClient client_;
  std::unique_ptr<Operation> operation_;
  std::optional<Result<TaskTarget>> result_;
  int calls_ = 0;
};

TEST_F(MasterClientTest, FindsTaskAndAgent) {
  http_.Add(Tasks());
  http_.Add(Agents());
  Find();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  const TaskTarget& target = result_->value();
  EXPECT_EQ(target.task_id, "web.1a2b");
  EXPECT_EQ(target.agent_id, "agent-S3");
  EXPECT_EQ(target.container_id,
            nlohmann::json::parse(R"({"value":"ctr","parent":{"value":"exec"}})"));
  EXPECT_EQ(target.agent_url, "http://10.0.1.7:5051");
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(Urls(), (std::vector<std::string>{kM1, kM1}));
}

TEST_F(MasterClientTest, SendsCallsWithHeaders) {
  http_.Add(Tasks());
  http_.Add(Agents());
  Find();
  ASSERT_EQ(http_.requests().size(), 2u);
  for (const HttpRequest& request : http_.requests()) {
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(HeaderValue(request, "Content-Type"), "application/json");
    EXPECT_EQ(HeaderValue(request, "Accept"), "application/json");
    EXPECT_EQ(HeaderValue(request, "Authorization"), "token=abc");
    EXPECT_EQ(request.timeout, std::chrono::milliseconds(10000));
    EXPECT_FALSE(Contains(request.description, "abc")) << request.description;
  }
  EXPECT_EQ(http_.request(0).body, R"({"type":"GET_TASKS"})");
  EXPECT_EQ(http_.request(1).body, R"({"type":"GET_AGENTS"})");
}

TEST_F(MasterClientTest, NoAuthorizationHeaderWhenEmpty) {
  http_.Add(Tasks());
  http_.Add(Agents());
  Find(client_, "web", "");
  EXPECT_EQ(HeaderValue(http_.request(0), "Authorization"), std::nullopt);
}

TEST_F(MasterClientTest, AgentSchemeFromOptions) {
  MasterClientOptions options = Options();
  options.agent_scheme = "https";
  MasterClient client(http_, options);
  http_.Add(Tasks());
  http_.Add(Agents());
  Find(client);
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(result_->value().agent_url, "https://10.0.1.7:5051");
}

TEST_F(MasterClientTest, BodiesInPiecesJoined) {
  http_.set_body_chunk_bytes(5);
  http_.Add(Tasks());
  http_.Add(Agents());
  Find();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
}

TEST_F(MasterClientTest, FollowsSchemelessRedirect) {
  http_.Add(Redirect("//leader:5050/master/api/v1"));
  http_.Add(Tasks());
  http_.Add(Agents());
  Find();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  // GET_AGENTS goes straight to the leader that returned the tasks.
  EXPECT_EQ(Urls(), (std::vector<std::string>{kM1, "http://leader:5050/master/api/v1",
                                              "http://leader:5050/master/api/v1"}));
  EXPECT_EQ(http_.request(1).body, R"({"type":"GET_TASKS"})");
  EXPECT_EQ(HeaderValue(http_.request(1), "Authorization"), "token=abc");
}

TEST_F(MasterClientTest, RedirectKeepsHttpsScheme) {
  MasterClientOptions options = Options();
  options.master_urls = {"https://m1:5050"};
  MasterClient client(http_, options);
  http_.Add(Redirect("//leader:5050/master/api/v1"));
  http_.Add(Tasks());
  http_.Add(Agents());
  Find(client);
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(http_.request(1).url, "https://leader:5050/master/api/v1");
}

TEST_F(MasterClientTest, RedirectWithPathOnlyKeepsHost) {
  http_.Add(Redirect("/master/api/v1"));
  http_.Add(Tasks());
  http_.Add(Agents());
  Find();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(http_.request(1).url, "http://m1:5050/master/api/v1");
}

TEST_F(MasterClientTest, RedirectsUpToMaximumFollowed) {
  for (int i = 0; i < MasterClient::kMaxRedirects; ++i) {
    http_.Add(Redirect("//hop" + std::to_string(i) + ":5050/master/api/v1"));
  }
  http_.Add(Tasks());
  http_.Add(Agents());
  Find();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
}

TEST_F(MasterClientTest, RedirectLoopTriesNextMaster) {
  for (int i = 0; i <= MasterClient::kMaxRedirects; ++i) {
    http_.Add(Redirect(i % 2 == 0 ? "//m2:5050/master/api/v1" : "//m1:5050/master/api/v1"));
  }
  http_.Add(Tasks());
  http_.Add(Agents());
  Find();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(http_.request(MasterClient::kMaxRedirects + 1).url, kM2);
}

TEST_F(MasterClientTest, RedirectLoopReportedWhenAllFail) {
  MasterClientOptions options = Options();
  options.master_urls = {"http://m1:5050"};
  options.lookup_timeout = std::chrono::milliseconds(100);
  MasterClient client(http_, options);
  for (int i = 0; i <= MasterClient::kMaxRedirects; ++i) {
    http_.Add(Redirect(i % 2 == 0 ? "//m2:5050/master/api/v1" : "//m1:5050/master/api/v1"));
  }
  Find(client);
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kUnavailable);
  const std::string& message = result_->status().message();
  EXPECT_TRUE(Contains(message, "GET_TASKS: no Mesos master answered within 100 ms (1 round); "
                                "tried " + std::string(kM1) + " (master redirect loop: " + kM1 +
                                " -> http://m2:5050/master/api/v1 -> "))
      << message;
  EXPECT_TRUE(Contains(message, "more than " + std::to_string(MasterClient::kMaxRedirects) +
                                    " redirects)"))
      << message;
  EXPECT_EQ(http_.requests().size(), static_cast<std::size_t>(MasterClient::kMaxRedirects) + 1);
}

TEST_F(MasterClientTest, RedirectWithoutLocationTriesNextMaster) {
  http_.Add(FakeResponse::Http(307, ""));
  http_.Add(Tasks());
  http_.Add(Agents());
  Find();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(http_.request(1).url, kM2);
}

TEST_F(MasterClientTest, UnauthorizedIsUnauthenticated) {
  http_.Add(FakeResponse::Http(401, "",
                               {{"www-authenticate", "Basic realm=\"mesos-master-readwrite\""}}));
  Find();
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(result_->status().message(), std::string("GET_TASKS: the master at ") + kM1 +
                                             " rejected the credentials (HTTP 401)");
  EXPECT_EQ(http_.requests().size(), 1u);  // another master would reject them too
  EXPECT_FALSE(Contains(result_->status().message(), "token=abc"));
}

TEST_F(MasterClientTest, ForbiddenIsPermissionDenied) {
  http_.Add(FakeResponse::Http(403, ""));
  Find();
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(result_->status().message(), std::string("GET_TASKS: the master at ") + kM1))
      << result_->status().message();
  EXPECT_TRUE(Contains(result_->status().message(), "HTTP 403"));
  EXPECT_EQ(http_.requests().size(), 1u);
}

TEST_F(MasterClientTest, ServiceUnavailableTriesNextMaster) {
  http_.Add(FakeResponse::Http(503, "No leader elected"));
  http_.Add(Tasks());
  http_.Add(Agents());
  Find();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(Urls(), (std::vector<std::string>{kM1, kM2, kM2}));
}

TEST_F(MasterClientTest, ConnectionRefusedTriesNextMaster) {
  http_.Add(Refused());
  http_.Add(Refused());
  http_.Add(Tasks());
  http_.Add(Agents());
  Find();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(Urls(), (std::vector<std::string>{kM1, kM2, kM3, kM3}));
}

TEST_F(MasterClientTest, RedirectTargetDownTriesNextMaster) {
  http_.Add(Redirect("//leader:5050/master/api/v1"));
  http_.Add(Refused());
  http_.Add(Tasks());
  http_.Add(Agents());
  Find();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(http_.request(2).url, kM2);
}

TEST_F(MasterClientTest, RetriesRoundAfterBackoffUntilLeaderElected) {
  http_.Add(FakeResponse::Http(503, "No leader elected"));
  http_.Add(FakeResponse::Http(503, "No leader elected"));
  http_.Add(Refused());
  http_.Add(Tasks());
  http_.Add(Agents());
  Find();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(Urls(), (std::vector<std::string>{kM1, kM2, kM3, kM1, kM1}));
  EXPECT_EQ(http_.timer_delays(), (std::vector<std::chrono::milliseconds>{
                                      std::chrono::milliseconds(250)}));
}

TEST_F(MasterClientTest, BackoffDoublesUpToMaximumUntilLookupTimeout) {
  MasterClientOptions options = Options();
  options.master_urls = {"http://m1:5050"};
  options.lookup_timeout = std::chrono::milliseconds(11000);
  MasterClient client(http_, options);
  for (int i = 0; i < 20; ++i) http_.Add(Refused());
  Find(client);
  ASSERT_FALSE(result_->ok());
  using std::chrono::milliseconds;
  // Rounds start at 0, 250, 750, 1750, 3750 and 7750 ms; another 4000 ms would pass 11 s.
  EXPECT_EQ(http_.timer_delays(),
            (std::vector<milliseconds>{milliseconds(250), milliseconds(500), milliseconds(1000),
                                       milliseconds(2000), milliseconds(4000)}));
  EXPECT_EQ(http_.requests().size(), 6u);
  EXPECT_EQ(http_.unused_responses(), 14u);
  EXPECT_EQ(result_->status().message(),
            std::string("GET_TASKS: no Mesos master answered within 11 s (6 rounds); tried ") +
                kM1 + " (Couldn't connect to server)");
}

TEST_F(MasterClientTest, GiveUpListsMastersWithLastReason) {
  MasterClientOptions options = Options();
  options.lookup_timeout = std::chrono::milliseconds(600);
  MasterClient client(http_, options);
  // Round 1 at 0 ms, round 2 after 250 ms; a third round would start at 750 ms.
  http_.Add(Refused());
  http_.Add(FakeResponse::Http(503, "No leader elected\n"));
  http_.Add(FakeResponse::Http(503, "Master has not finished recovery"));
  http_.Add(FakeResponse::Http(503, "Master has not finished recovery"));
  http_.Add(Refused());
  http_.Add(FakeResponse::TransportError(Status::DeadlineExceeded("Operation timed out")));
  Find(client);
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(result_->status().message(),
            std::string("GET_TASKS: no Mesos master answered within 600 ms (2 rounds); tried ") +
                kM1 + " (HTTP 503: Master has not finished recovery), " + kM2 +
                " (Couldn't connect to server), " + kM3 + " (no answer in 350 ms)");
  EXPECT_EQ(http_.unused_responses(), 0u);
}

TEST_F(MasterClientTest, CallTimeoutCutToTimeLeft) {
  MasterClientOptions options = Options();
  options.lookup_timeout = std::chrono::milliseconds(3000);
  MasterClient client(http_, options);
  http_.Add(Refused());
  http_.Add(Refused());
  http_.Add(Refused());
  http_.Add(Tasks());
  http_.Add(Agents());
  Find(client);
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(http_.request(0).timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(http_.request(3).timeout, std::chrono::milliseconds(2750));
}

TEST_F(MasterClientTest, LeaderMovesBetweenCalls) {
  http_.Add(Tasks());                                    // m1 leads for GET_TASKS
  http_.Add(Redirect("//m3:5050/master/api/v1"));        // then m3 leads
  http_.Add(Agents());
  Find();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(Urls(), (std::vector<std::string>{kM1, kM1, "http://m3:5050/master/api/v1"}));
}

TEST_F(MasterClientTest, DestroyingDuringBackoffCancelsRetry) {
  http_.Add(Refused());
  http_.Add(Refused());
  http_.Add(Refused());
  operation_ = client_.FindTask("web", "", [this](Result<TaskTarget>) { ++calls_; });
  http_.RunPending();
  ASSERT_EQ(http_.timer_delays().size(), 1u);
  operation_.reset();
  EXPECT_EQ(http_.RunTimers(), 0u);
  EXPECT_EQ(calls_, 0);
  EXPECT_EQ(http_.requests().size(), 3u);
}

TEST_F(MasterClientTest, AdminRouterAgentUrlWithoutGetAgents) {
  MasterClientOptions options = Options();
  options.master_urls = {"https://dcos.example/mesos"};
  options.admin_router_url = "https://dcos.example/";
  MasterClient client(http_, options);
  http_.Add(Tasks());
  Find(client);
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(Urls(), (std::vector<std::string>{"https://dcos.example/mesos/api/v1"}));
  EXPECT_EQ(result_->value().agent_url, "https://dcos.example/agent/agent-S3");
}

TEST_F(MasterClientTest, CertificateFailureEndsLookupAtOnce) {
  http_.Add(FakeResponse::TransportError(Status::FailedPrecondition(
      "POST https://m1:5050/api/v1 failed: the TLS certificate of m1:5050 failed verification "
      "against the CA bundle /etc/ca.pem: SSL certificate problem")));
  Find();
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(result_->status().message(),
                       "GET_TASKS: POST https://m1:5050/api/v1 failed: the TLS certificate of "
                       "m1:5050 failed verification"))
      << result_->status().message();
  EXPECT_EQ(http_.requests().size(), 1u);
  EXPECT_TRUE(http_.timer_delays().empty());
}

TEST_F(MasterClientTest, GetAgentsFailsOverToOtherMasters) {
  http_.Add(FakeResponse::Http(503, "Master has not finished recovery"));
  http_.Add(Tasks());    // m2 returns the tasks
  http_.Add(Refused());  // m2 then fails GET_AGENTS
  http_.Add(Agents());   // m1 returns the agents
  Find();
  ASSERT_TRUE(result_->ok()) << result_->status().ToString();
  EXPECT_EQ(Urls(), (std::vector<std::string>{kM1, kM2, kM2, kM1}));
}

TEST_F(MasterClientTest, GetAgentsAllFailedNamesCall) {
  MasterClientOptions options = Options();
  options.master_urls = {"http://m1:5050"};
  options.lookup_timeout = std::chrono::milliseconds(100);
  MasterClient client(http_, options);
  http_.Add(Tasks());
  http_.Add(Refused());
  Find(client);
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(result_->status().message(),
            std::string("GET_AGENTS: no Mesos master answered within 100 ms (1 round); tried ") +
                kM1 +
                " (Couldn't connect to server)");
}

TEST_F(MasterClientTest, InvalidJsonIsUnavailable) {
  http_.Add(FakeResponse::Http(200, "<html>Admin Router</html>"));
  Find();
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(
      Contains(result_->status().message(), std::string("GET_TASKS: the master at ") + kM1 +
                                                " answered HTTP 200 with invalid JSON at byte"))
      << result_->status().message();
}

TEST_F(MasterClientTest, NoMatchingTaskPassedThrough) {
  http_.Add(Tasks());
  Find(client_, "db");
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kNotFound);
  EXPECT_EQ(result_->status().message(), "no running task matches 'db'");
  EXPECT_EQ(http_.requests().size(), 1u);  // no GET_AGENTS
}

TEST_F(MasterClientTest, UnknownAgentIsNotFound) {
  http_.Add(Tasks());
  http_.Add(FakeResponse::Http(200, R"({"type":"GET_AGENTS","get_agents":{}})"));
  Find();
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kNotFound);
  EXPECT_EQ(result_->status().message(), "agent agent-S3 is not registered with the master");
}

TEST_F(MasterClientTest, OversizedResponseRejected) {
  http_.set_body_chunk_bytes(8 << 20);
  http_.Add(FakeResponse::Http(200, std::string((64 << 20) + 1, ' ')));
  Find();
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(Contains(result_->status().message(), "GET_TASKS: the master at"));
  EXPECT_EQ(http_.live_calls(), 0u);
}

TEST_F(MasterClientTest, DestroyingOperationCancels) {
  http_.Add(Tasks());
  http_.Add(Agents());
  operation_ = client_.FindTask("web", "", [this](Result<TaskTarget>) { ++calls_; });
  // Deliver GET_TASKS (head, body, done) and stop while GET_AGENTS is in flight.
  while (http_.requests().size() < 2) ASSERT_TRUE(http_.RunOne());
  operation_.reset();
  http_.RunPending();
  EXPECT_EQ(calls_, 0);
  EXPECT_EQ(http_.live_calls(), 0u);
  EXPECT_EQ(http_.cancelled_calls(), 1u);
}

TEST_F(MasterClientTest, DoneMayDestroyOperation) {
  http_.Add(Tasks());
  http_.Add(Agents());
  operation_ = client_.FindTask("web", "", [this](Result<TaskTarget>) {
    ++calls_;
    operation_.reset();
  });
  http_.RunPending();
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(operation_, nullptr);
}

TEST_F(MasterClientTest, EmptyMasterListFailsAsynchronously) {
  MasterClient client(http_, MasterClientOptions{});
  Find(client);
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(http_.requests().size(), 0u);
}

TEST_F(MasterClientTest, EmptyMasterListCancelled) {
  MasterClient client(http_, MasterClientOptions{});
  operation_ = client.FindTask("web", "", [this](Result<TaskTarget>) { ++calls_; });
  operation_.reset();
  http_.RunPending();
  EXPECT_EQ(calls_, 0);
}

}  // namespace
}  // namespace tb::mesos
