#include "server/worker.h"

#include <spdlog/spdlog.h>

#include "server/connection.h"

namespace tb::server {

Worker::Worker(int index, const Config& config) : index_(index), config_(config) {
  HttpClientOptions http_options;
  http_options.ca_file = config.ca_file;
  http_options.verify_tls = config.verify_tls;
  http_ = HttpClient::Create(loop_, http_options);

  auth::IamClientOptions iam_options;
  iam_options.iam_url = config.iam_url;
  iam_options.call_timeout = config.iam_timeout;
  iam_ = std::make_unique<auth::IamClient>(*http_, iam_options);

  mesos::MasterClientOptions master_options;
  master_options.master_urls = config.masters;
  master_options.call_timeout = config.master_timeout;
  master_options.agent_scheme = config.agent_scheme;
  masters_ = std::make_unique<mesos::MasterClient>(*http_, master_options);
}

Worker::~Worker() { Stop(); }

void Worker::Start() {
  thread_ = std::thread([this] {
    spdlog::debug("worker {} started", index_);
    loop_.Run([this] { AfterPoll(); });
    // Connections end on this thread: their calls belong to this loop's HttpClient.
    connections_.clear();
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
