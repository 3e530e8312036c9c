#include "server/worker.h"

#include <spdlog/spdlog.h>

#include "server/connection.h"

namespace tb::server {

Worker::Worker(int index, const Config& config, SharedAuth& shared_auth)
    : index_(index), config_(config), shared_auth_(shared_auth) {
  HttpClientOptions http_options;
  http_options.ca_file = config.ca_file;
  http_options.verify_tls = config.verify_tls;
  http_ = HttpClient::Create(loop_, http_options);

  auth::IamClientOptions iam_options;
  iam_options.iam_url = config.iam_url;
  iam_options.call_timeout = config.iam_timeout;
  iam_ = std::make_unique<auth::IamClient>(*http_, iam_options);
  CreateAuth();

  mesos::MasterClientOptions master_options;
  master_options.master_urls = config.masters;
  master_options.call_timeout = config.master_timeout;
  master_options.lookup_timeout = config.lookup_timeout;
  master_options.agent_scheme = config.agent_scheme;
  if (config.layout == "adminrouter") master_options.admin_router_url = config.dcos_url;
  masters_ = std::make_unique<mesos::MasterClient>(*http_, master_options);
}

Worker::~Worker() { Stop(); }

void Worker::CreateAuth() {
  auth::Clock& clock = auth::SystemClock();
  auth::TokenVerifierOptions verifier_options;
  verifier_options.min_refetch_interval = config_.jwks_min_refetch_interval;
  verifier_ = std::make_unique<auth::TokenVerifier>(*iam_, loop_, clock, verifier_options);

  // Public-key users have no token of their own, so the cluster gets the bastion's token for them.
  // Their logins, and the service account, are therefore enabled only when the bastion checks
  // permissions itself.
  if (shared_auth_.service_account && authorization_required()) {
    service_account_ = std::make_unique<auth::ServiceAccount>(
        *iam_, loop_, clock, *shared_auth_.service_account, auth::ServiceAccountOptions());
    authorizer_ = std::make_unique<auth::Authorizer>(*iam_, loop_, *service_account_);
  }
  auth::AuthenticatorOptions authenticator_options;
  authenticator_options.service_accounts_ttl = config_.service_accounts_cache;
  authenticator_ = std::make_unique<auth::Authenticator>(
      *iam_, loop_, clock, *verifier_, shared_auth_.registry.get(), service_account_.get(),
      authenticator_options);
}

void Worker::Start() {
  // The key set and the service account's token are fetched at once, on the loop's thread.
  loop_.Submit([this] {
    verifier_->Start();
    if (service_account_) service_account_->Start();
  });
  thread_ = std::thread([this] {
    spdlog::debug("worker {} started", index_);
    loop_.Run([this] { AfterPoll(); });
    // Connections end on this thread: their calls belong to this loop's HttpClient. So do the
    // calls the authentication objects may still have in flight.
    connections_.clear();
    authorizer_.reset();
    authenticator_.reset();
    service_account_.reset();
    verifier_.reset();
    spdlog::debug("worker {} stopped", index_);
  });
}

void Worker::Stop() {
  if (!thread_.joinable()) return;
  loop_.Stop();
  thread_.join();
}

void Worker::Adopt(SshSession session, std::uint64_t connection_id, std::string peer) {
  // std::function needs a copyable callable, so the session travels as a shared_ptr.
  auto shared = std::make_shared<SshSession>(std::move(session));
  loop_.Submit([this, shared, connection_id, peer = std::move(peer)]() mutable {
    connections_.push_back(
        std::make_unique<Connection>(*this, std::move(*shared), connection_id, std::move(peer)));
  });
}

void Worker::AfterPoll() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    (*it)->Process();
    if ((*it)->closed()) {
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace tb::server
