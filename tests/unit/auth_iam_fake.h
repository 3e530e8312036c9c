// FakeIam: the IAM routes that auth/ calls, served from memory for RoutingHttpClient: logins with
// a password or a service login token, JWKS, users, service accounts and ACL checks.
//
// It issues tokens signed with TestRsaKey(0) and checks service login tokens with the account's
// key. Grants are exact (rid, action) pairs per uid plus superusers, so tests see exactly which
// questions the code asks. Fields can be changed between calls to inject failures.

#ifndef TASK_BASTION_TESTS_UNIT_AUTH_IAM_FAKE_H_
#define TASK_BASTION_TESTS_UNIT_AUTH_IAM_FAKE_H_

#include <map>
#include <optional>
#include <tuple>
#include <vector>
#include <set>
#include <string>
#include <utility>

#include "auth/jwt.h"
#include "auth/permissions.h"
#include "tests/unit/auth_fakes.h"

namespace tb::testing {

class FakeIam {
 public:
  explicit FakeIam(FakeClock& clock) : clock_(clock) {}

  FakeResponse Answer(const HttpRequest& request) {
    if (silent) return RoutingHttpClient::Silence();
    if (down) return FakeResponse::TransportError(Status::Unavailable("Connection refused"));
    if (server_error) return FakeResponse::Http(503, R"({"code":"ERR_X","description":"busy"})");
    const std::string prefix = "http://iam/acs/api/v1";
    if (request.url.rfind(prefix, 0) != 0) return FakeResponse::Http(404, "");
    std::string path = request.url.substr(prefix.size());

    if (path == "/auth/login") return Login(request);
    if (path == "/auth/jwks") {
      return FakeResponse::Http(200, nlohmann::json{{"keys", {JwkFor(TestRsaKey(0), "iam")}}}.dump());
    }
    if (!Authorized(request)) {
      return FakeResponse::Http(401, R"({"code":"ERR_INVALID_AUTH_TOKEN"})");
    }
    if (path == "/users?type=service") {
      nlohmann::json users = nlohmann::json::array();
      for (const auto& [uid, pem] : service_keys) {
        users.push_back({{"uid", uid}, {"is_service", true}, {"public_key", pem}});
      }
      return FakeResponse::Http(200, nlohmann::json{{"array", users}}.dump());
    }
    if (path.rfind("/users/", 0) == 0) {
      std::string uid = path.substr(7);
      auto key = service_keys.find(uid);
      if (key != service_keys.end()) {
        return FakeResponse::Http(
            200, nlohmann::json{{"uid", uid}, {"is_service", true}, {"public_key", key->second}}.dump());
      }
      if (regular_users.count(uid)) {
        return FakeResponse::Http(200, nlohmann::json{{"uid", uid}, {"is_service", false}}.dump());
      }
      return FakeResponse::Http(400, R"({"code":"ERR_UNKNOWN_USER_ID"})");
    }
    if (path.rfind("/acls/", 0) == 0) return Check(path.substr(6));
    return FakeResponse::Http(404, "");
  }

  std::string IssueToken(const std::string& uid, std::chrono::seconds lifetime) {
    ++issued;
    return SignedJwt({{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "iam"}},
                     {{"uid", uid}, {"exp", clock_.NowSeconds() + lifetime.count()}},
                     TestRsaKey(0));
  }

  // Grants `action` on `rid` to `uid` exactly, as the IAM would answer that one question.
  void Grant(const std::string& uid, const std::string& rid, const std::string& action) {
    grants.insert({uid, rid, action});
  }

  std::map<std::string, std::string> passwords;      // uid -> password
  std::map<std::string, std::string> service_keys;   // uid -> PEM public key
  std::set<std::string> regular_users;
  std::set<std::tuple<std::string, std::string, std::string>> grants;  // uid, rid, action
  std::set<std::string> superusers;
  std::set<std::string> revoked_tokens;  // Authorization values that get a 401
  std::chrono::seconds token_lifetime{3600};
  bool down = false;
  bool silent = false;
  bool server_error = false;
  int issued = 0;

 private:
  bool Authorized(const HttpRequest& request) const {
    std::optional<std::string> authorization = HeaderValue(request, "Authorization");
    if (!authorization || authorization->rfind("token=", 0) != 0) return false;
    if (revoked_tokens.count(*authorization)) return false;
    Result<auth::Jwt> jwt = auth::ParseJwt(authorization->substr(6));
    return jwt.ok() && auth::VerifyRs256(*jwt, TestRsaKey(0)).ok() &&
           auth::CheckClaims(*jwt, clock_.Now()).ok();
  }

  FakeResponse Login(const HttpRequest& request) {
    nlohmann::json body = nlohmann::json::parse(request.body);
    std::string uid = body.value("uid", "");
    if (body.contains("password")) {
      auto it = passwords.find(uid);
      if (it == passwords.end() || it->second != body["password"]) {
        return FakeResponse::Http(401, R"({"code":"ERR_INVALID_CREDENTIALS"})");
      }
    } else {
      auto key = service_keys.find(uid);
      if (key == service_keys.end()) return FakeResponse::Http(401, "{}");
      Result<auth::Jwt> jwt = auth::ParseJwt(body.value("token", ""));
      if (!jwt.ok() || !VerifyWithPem(*jwt, key->second) ||
          !auth::CheckClaims(*jwt, clock_.Now()).ok() || jwt->claims["uid"] != uid) {
        return FakeResponse::Http(401, R"({"code":"ERR_INVALID_CREDENTIALS"})");
      }
      login_token_claims = jwt->claims;
    }
    return FakeResponse::Http(200, nlohmann::json{{"token", IssueToken(uid, token_lifetime)}}.dump());
  }

  static bool VerifyWithPem(const auth::Jwt& jwt, const std::string& pem) {
    auth::Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    auth::EvpPkey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    return key && auth::VerifyRs256(jwt, key.get()).ok();
  }

  FakeResponse Check(const std::string& rest) {
    // <encoded rid>/users/<uid>/<action>
    std::size_t users = rest.find("/users/");
    std::string rid = Decode(Decode(rest.substr(0, users)));
    std::string tail = rest.substr(users + 7);
    std::string uid = Decode(tail.substr(0, tail.find('/')));
    std::string action = tail.substr(tail.find('/') + 1);
    bool allowed = (superusers.count(uid) && rid == "dcos:superuser") ||
                   grants.count({uid, rid, action});
    asked.push_back(rid + " " + action);
    return FakeResponse::Http(200, nlohmann::json{{"allowed", allowed}}.dump());
  }

  static std::string Decode(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '%' && i + 2 < text.size()) {
        out.push_back(static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(text[i]);
      }
    }
    return out;
  }

  FakeClock& clock_;

 public:
  nlohmann::json login_token_claims;  // claims of the last service login token
  std::vector<std::string> asked;     // "rid action" of every ACL check
};

}  // namespace tb::testing

#endif  // TASK_BASTION_TESTS_UNIT_AUTH_IAM_FAKE_H_
