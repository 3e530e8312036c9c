#include "server/server.h"

#include <thread>

namespace tb::server {

Server::Server(const Config& config) : config_(config), listener_(config) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  Status s = listener_.Bind();
  if (!s.ok()) return s;
  Result<std::unique_ptr<SharedAuth>> shared_auth = CreateSharedAuth(config_);
  if (!shared_auth.ok()) return shared_auth.status();
  shared_auth_ = std::move(shared_auth).value();
  int count = config_.workers > 0 ? config_.workers
                                  : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < count; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, config_, *shared_auth_));
    workers_.back()->Start();
  }
  listener_.Start([this](SshSession session, std::string peer) {
    std::size_t index = next_worker_++ % workers_.size();
    workers_[index]->Adopt(std::move(session), next_connection_id_++, std::move(peer));
  });
  return Status::Ok();
}

void Server::Stop() {
  listener_.Stop();
  for (auto& worker : workers_) worker->Stop();
  workers_.clear();
}

}  // namespace tb::server
