// One connection to the fleet's Redis (docs/fleet.md), on the fleet thread's executor: commands
// are pipelined (each waits for its own reply, in order), every reply has a deadline, and a
// subscriber connection hands the messages the server pushes to `on_message`. hiredis's reader
// parses the replies and its formatter writes the commands (RESP); the I/O is Asio's, TLS included,
// so nothing here blocks the thread.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace scopegate::fleet {

// A reply, copied out of hiredis's reply tree.
struct Reply {
  enum class Type { string, array, integer, nil, status, error };
  Type type = Type::nil;
  std::string str;  // string, status, error
  long long integer = 0;
  std::vector<Reply> elements;
};

// What a command came to: a reply (which may be a Redis error reply), or no reply at all (`failed`,
// with why: the connection closed, or the reply was late).
struct Result {
  bool failed = false;
  std::string why;
  Reply reply;
  bool ok() const { return !failed && reply.type != Reply::Type::error; }
  std::string error() const { return failed ? why : reply.str; }
};

// The context for rediss:// (the CA file or the system store); nullptr with `error` when it
// cannot be made.
std::shared_ptr<boost::asio::ssl::context> make_redis_tls(const config::Fleet::Redis& settings, std::string& error);

class RedisConnection {
 public:
  enum class Role { commands, subscriber };
  RedisConnection(boost::asio::any_io_executor ex, const config::Fleet::Redis& settings,
                  std::shared_ptr<boost::asio::ssl::context> tls, Role role);
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;
  ~RedisConnection();

  // Connects (TCP, then TLS for rediss://), authenticates and selects the database, all within the
  // timeout. Empty on success, else why not.
  boost::asio::awaitable<std::string> connect();

  // Reads and writes until the connection closes (close(), a read or write error, a late reply).
  // Commands may be sent only while this runs.
  boost::asio::awaitable<void> run();

  // Sends one command and waits for its reply.
  boost::asio::awaitable<Result> command(std::vector<std::string> args);

  // Closes the connection: every command still waiting gets `failed` with `why`.
  void close(const std::string& why);
  bool open() const { return open_; }
  const std::string& closed_because() const { return closed_because_; }

  // Subscriber connections: a published message (channel, payload).
  std::function<void(std::string_view channel, std::string_view payload)> on_message;

 private:
  using Clock = std::chrono::steady_clock;
  struct Waiter {
    boost::asio::any_completion_handler<void(Result)> handler;
    Clock::time_point deadline;
  };
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> watch_deadlines();
  void complete(Result result);
  void deliver(Reply reply);

  boost::asio::any_io_executor ex_;
  const config::Fleet::Redis& settings_;
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  Role role_;
  std::optional<boost::asio::ip::tcp::socket> tcp_;
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> tls_;
  boost::asio::steady_timer wake_writer_;
  std::string out_;  // commands not yet written
  std::deque<Waiter> waiters_;
  bool open_ = false;
  std::string closed_because_;
  struct ReaderDeleter {
    void operator()(void* reader) const;
  };
  std::unique_ptr<void, ReaderDeleter> reader_;  // hiredis's redisReader
};

}  // namespace scopegate::fleet
