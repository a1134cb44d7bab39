#include "runtime/worker.hpp"

#include "runtime/services.hpp"

namespace scopegate::runtime {

RelayBuffers::Lease RelayBuffers::acquire() {
  if (free_.empty()) return Lease(*this, std::make_unique<char[]>(kSize));
  auto b = std::move(free_.back());
  free_.pop_back();
  return Lease(*this, std::move(b));
}

void RelayBuffers::release(std::unique_ptr<char[]> b) {
  // Keep enough for the usual concurrency; a burst's extra buffers are freed.
  if (free_.size() < 256) free_.push_back(std::move(b));
}

Worker::Worker(Services& app) : app_(app) {}

Worker::~Worker() {
  acceptors_.clear();
  pool_.clear();
  sweep_timer_.reset();
  io_.reset();
}

std::shared_ptr<const Snapshot> Worker::snapshot() {
  auto generation = app_.generation();
  if (generation != snapshot_generation_) {
    snapshot_ = app_.snapshot();
    snapshot_generation_ = generation;
  }
  return snapshot_;
}

std::list<SessionHandle>::iterator Worker::add_session() { return sessions_.emplace(sessions_.end()); }

void Worker::remove_session(std::list<SessionHandle>::iterator it) { sessions_.erase(it); }

void Worker::start() { schedule_sweep(); }

void Worker::schedule_sweep() {
  sweep_timer_->expires_after(std::chrono::seconds(1));
  sweep_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec || draining_) return;
    pool_.sweep(snapshot()->config.timeouts.upstream_pool_idle);
    schedule_sweep();
  });
}

void Worker::begin_drain() {
  draining_ = true;
  boost::system::error_code ec;
  for (auto& a : acceptors_) a.close(ec);
  sweep_timer_->cancel();
  for (auto& s : sessions_) {
    if (s.idle && s.client) s.client->close();
    if (s.reading_on && s.upstream) s.upstream->close();  // nobody waits for that answer
  }
}

void Worker::force_close() {
  for (auto& s : sessions_) {
    if (s.client) s.client->close();
    if (s.upstream) s.upstream->close();
  }
  pool_.clear();
}

}  // namespace scopegate::runtime
