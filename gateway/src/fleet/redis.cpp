#include "fleet/redis.hpp"

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "crypto/tls.hpp"
#include "http/use_tuple.hpp"

namespace scopegate::fleet {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using http::use_tuple;

namespace {

Reply copy_reply(const redisReply& r) {
  Reply out;
  switch (r.type) {
    case REDIS_REPLY_STRING: out.type = Reply::Type::string; break;
    case REDIS_REPLY_ARRAY: out.type = Reply::Type::array; break;
    case REDIS_REPLY_INTEGER: out.type = Reply::Type::integer; break;
    case REDIS_REPLY_STATUS: out.type = Reply::Type::status; break;
    case REDIS_REPLY_ERROR: out.type = Reply::Type::error; break;
    default: out.type = Reply::Type::nil; break;
  }
  if (r.str) out.str.assign(r.str, r.len);
  out.integer = r.integer;
  out.elements.reserve(r.elements);
  for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(copy_reply(*r.element[i]));
  return out;
}

std::string format_command(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* out = nullptr;
  int n = redisFormatCommandArgv(&out, static_cast<int>(args.size()), argv.data(), lens.data());
  if (n < 0 || !out) return {};
  std::string bytes(out, static_cast<std::size_t>(n));
  redisFreeCommand(out);
  return bytes;
}

bool is_pushed_message(const Reply& r) {
  return r.type == Reply::Type::array && r.elements.size() == 3 && r.elements[0].type == Reply::Type::string &&
         r.elements[0].str == "message";
}

}  // namespace

std::shared_ptr<ssl::context> make_redis_tls(const config::Fleet::Redis& settings, std::string& error) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(crypto::kTlsContextOptions, ec);
  if (!settings.ca_file.empty()) ctx->load_verify_file(settings.ca_file, ec);
  else ctx->set_default_verify_paths(ec);
  if (ec) {
    error = "CA for " + settings.url + ": " + ec.message();
    return nullptr;
  }
  ctx->set_verify_mode(settings.verify ? ssl::verify_peer : ssl::verify_none);
  return ctx;
}

void RedisConnection::ReaderDeleter::operator()(void* reader) const {
  redisReaderFree(static_cast<redisReader*>(reader));
}

RedisConnection::RedisConnection(asio::any_io_executor ex, const config::Fleet::Redis& settings,
                                 std::shared_ptr<ssl::context> tls, Role role)
    : ex_(ex), settings_(settings), tls_context_(std::move(tls)), role_(role), wake_writer_(ex),
      reader_(redisReaderCreate()) {}

// Destroyed with its coroutine, or with the io_context at exit: nothing may be posted any more,
// so a command still waiting is dropped rather than answered.
RedisConnection::~RedisConnection() {
  open_ = false;
  boost::system::error_code ignored;
  if (tls_) tls_->next_layer().close(ignored);
  if (tcp_) tcp_->close(ignored);
  waiters_.clear();
}

asio::awaitable<std::string> RedisConnection::connect() {
  asio::steady_timer deadline(ex_);
  deadline.expires_after(settings_.timeout);
  tcp::resolver resolver(ex_);
  tcp::socket socket(ex_);
  // Every step under the one deadline: whichever finishes first decides.
  auto resolved = co_await (resolver.async_resolve(settings_.host, std::to_string(settings_.port), use_tuple) ||
                            deadline.async_wait(use_tuple));
  if (resolved.index() == 1) co_return "resolving " + settings_.host + " timed out";
  auto [rec, endpoints] = std::get<0>(resolved);
  if (rec) co_return "resolving " + settings_.host + ": " + rec.message();
  auto connected = co_await (asio::async_connect(socket, endpoints, use_tuple) || deadline.async_wait(use_tuple));
  if (connected.index() == 1) co_return "connecting to " + settings_.host + " timed out";
  if (auto ec = std::get<0>(std::get<0>(connected)); ec) co_return "connecting to " + settings_.host + ": " + ec.message();
  socket.set_option(tcp::no_delay(true));
  if (settings_.tls) {
    tls_.emplace(std::move(socket), *tls_context_);
    if (!SSL_set_tlsext_host_name(tls_->native_handle(), settings_.server_name.c_str())) {
      co_return "TLS: cannot set the server name";
    }
    if (settings_.verify) tls_->set_verify_callback(ssl::host_name_verification(settings_.server_name));
    auto shaken = co_await (tls_->async_handshake(ssl::stream_base::client, use_tuple) || deadline.async_wait(use_tuple));
    if (shaken.index() == 1) co_return "TLS handshake with " + settings_.host + " timed out";
    if (auto [ec] = std::get<0>(shaken); ec) co_return "TLS handshake with " + settings_.host + ": " + ec.message();
  } else {
    tcp_.emplace(std::move(socket));
  }
  open_ = true;
  co_return std::string();
}

asio::awaitable<void> RedisConnection::run() {
  if (!open_) co_return;
  co_await (read_loop() && write_loop() && watch_deadlines());
}

// Not a coroutine: the operation's awaitable is returned as it is (GCC 12 destroys a lambda's
// captures twice when the lambda is a temporary inside a co_await).
asio::awaitable<Result> RedisConnection::command(std::vector<std::string> args) {
  std::string bytes = format_command(args);
  return asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(
      [this, bytes = std::move(bytes)](auto handler) mutable {
        if (!open_ || bytes.empty()) {
          Result r{true, open_ ? "the command could not be formatted" : "not connected: " + closed_because_, {}};
          asio::post(ex_, [h = std::move(handler), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
          return;
        }
        waiters_.push_back(Waiter{std::move(handler), Clock::now() + settings_.timeout});
        out_ += bytes;
        wake_writer_.cancel();
      },
      asio::use_awaitable);
}

void RedisConnection::close(const std::string& why) {
  if (!open_ && waiters_.empty()) return;
  if (open_) closed_because_ = why;
  open_ = false;
  boost::system::error_code ignored;
  if (tls_) tls_->next_layer().close(ignored);
  if (tcp_) tcp_->close(ignored);
  wake_writer_.cancel();
  while (!waiters_.empty()) complete(Result{true, why, {}});
}

void RedisConnection::complete(Result result) {
  Waiter w = std::move(waiters_.front());
  waiters_.pop_front();
  asio::post(ex_, [h = std::move(w.handler), r = std::move(result)]() mutable { std::move(h)(std::move(r)); });
}

void RedisConnection::deliver(Reply reply) {
  if (role_ == Role::subscriber && is_pushed_message(reply)) {
    if (on_message) on_message(reply.elements[1].str, reply.elements[2].str);
    return;
  }
  if (waiters_.empty()) {
    close("a reply no command asked for");
    return;
  }
  complete(Result{false, {}, std::move(reply)});
}

asio::awaitable<void> RedisConnection::read_loop() {
  auto* reader = static_cast<redisReader*>(reader_.get());
  std::array<char, 16 * 1024> buffer;
  while (open_) {
    boost::system::error_code ec;
    std::size_t n = 0;
    if (tls_) n = co_await tls_->async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    else n = co_await tcp_->async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      close(ec == asio::error::eof ? "Redis closed the connection" : "read: " + ec.message());
      break;
    }
    if (redisReaderFeed(reader, buffer.data(), n) != REDIS_OK) {
      close("unreadable reply from Redis");
      break;
    }
    while (open_) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
        close("unreadable reply from Redis");
        break;
      }
      if (!raw) break;
      Reply reply = copy_reply(*static_cast<redisReply*>(raw));
      freeReplyObject(raw);
      deliver(std::move(reply));
    }
  }
}

asio::awaitable<void> RedisConnection::write_loop() {
  std::string sending;
  while (open_) {
    if (out_.empty()) {
      wake_writer_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_writer_.async_wait(use_tuple);  // command() or close() cancels it
      continue;
    }
    sending.clear();
    sending.swap(out_);
    boost::system::error_code ec;
    if (tls_) co_await asio::async_write(*tls_, asio::buffer(sending), asio::redirect_error(asio::use_awaitable, ec));
    else co_await asio::async_write(*tcp_, asio::buffer(sending), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) close("write: " + ec.message());
  }
}

// A reply later than the timeout closes the connection: a Redis that stopped answering must not
// hold requests, and a reconnect is the one way to know where the stream of replies stands.
asio::awaitable<void> RedisConnection::watch_deadlines() {
  asio::steady_timer tick(ex_);
  auto step = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(5), settings_.timeout / 4);
  while (open_) {
    tick.expires_after(step);
    co_await tick.async_wait(use_tuple);
    if (!waiters_.empty() && waiters_.front().deadline < Clock::now()) {
      close("Redis did not reply within " + std::to_string(settings_.timeout.count()) + " ms");
    }
  }
}

}  // namespace scopegate::fleet
