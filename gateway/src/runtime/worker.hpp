// One worker: one thread, one io_context, its own acceptors (SO_REUSEPORT), its own upstream pool,
// relay buffers and session registry. Nothing here is shared with other workers, so nothing locks.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <list>
#include <memory>
#include <optional>
#include <vector>

#include "delegation/token_cache.hpp"
#include "http/any_stream.hpp"
#include "runtime/snapshot.hpp"
#include "upstream/pool.hpp"

namespace scopegate::runtime {

class Services;

// What the worker knows of a live session, so that draining and forced shutdown can reach it.
struct SessionHandle {
  http::AnyStream* client = nullptr;
  http::AnyStream* upstream = nullptr;  // while a request is being forwarded
  bool idle = true;                     // waiting for the next request
  bool reading_on = false;              // reading an answer whose client left, for its LLM usage only
};

// Fixed-size buffers for streaming bodies, recycled per worker; held only while a body moves.
class RelayBuffers {
 public:
  static constexpr std::size_t kSize = 16 * 1024;

  class Lease {
   public:
    Lease(RelayBuffers& owner, std::unique_ptr<char[]> b) : owner_(&owner), buffer_(std::move(b)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (buffer_) owner_->release(std::move(buffer_));
    }
    char* data() { return buffer_.get(); }

   private:
    RelayBuffers* owner_;
    std::unique_ptr<char[]> buffer_;
  };

  Lease acquire();

 private:
  void release(std::unique_ptr<char[]> b);
  std::vector<std::unique_ptr<char[]>> free_;
};

class Worker {
 public:
  explicit Worker(Services& app);
  ~Worker();

  Services& app() { return app_; }
  boost::asio::io_context& io() { return *io_; }
  upstream::Pool& pool() { return pool_; }
  RelayBuffers& buffers() { return buffers_; }
  delegation::TokenCache& tokens() { return tokens_; }
  std::vector<boost::asio::ip::tcp::acceptor>& acceptors() { return acceptors_; }

  // The current config snapshot; re-read from the app only when its generation changed.
  std::shared_ptr<const Snapshot> snapshot();

  bool draining() const { return draining_; }

  std::list<SessionHandle>::iterator add_session();
  void remove_session(std::list<SessionHandle>::iterator it);

  void start();         // periodic pool sweep; called on this worker's thread
  void begin_drain();   // stop accepting, close idle sessions; in-flight ones finish
  void force_close();   // close every session and pooled connection now

 private:
  void schedule_sweep();

  Services& app_;
  // Destroyed explicitly in ~Worker, after the sockets below and before the session registry,
  // because destroying it destroys suspended session coroutines, which unregister themselves.
  // Only this worker's thread touches its sockets, so the reactor needs no locking per I/O;
  // the scheduler still locks, so other threads may post to it (drain, shutdown).
  std::unique_ptr<boost::asio::io_context> io_ =
      std::make_unique<boost::asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  std::vector<boost::asio::ip::tcp::acceptor> acceptors_;
  upstream::Pool pool_;
  RelayBuffers buffers_;
  delegation::TokenCache tokens_;
  std::list<SessionHandle> sessions_;
  std::optional<boost::asio::steady_timer> sweep_timer_{std::in_place, *io_};
  std::shared_ptr<const Snapshot> snapshot_;
  std::uint64_t snapshot_generation_ = 0;
  bool draining_ = false;
};

}  // namespace scopegate::runtime
