#include "fleet/node.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <unistd.h>

#include "clock/unix_clock.hpp"
#include "fleet/redis.hpp"
#include "http/use_tuple.hpp"
#include "log/log.hpp"

namespace scopegate::fleet {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using http::use_tuple;

namespace {

// One budget (KEYS[1]) is a hash: `total`, what the fleet has taken of it, and one field per node
// (ARGV[1]), what that node holds. The node says what it has spent (ARGV[2]): spending beyond what it
// holds is charged whatever the limit (it happened), then up to ARGV[3] more is granted while the
// total stays within the limit (ARGV[4]). Returns {held, total}: the node takes `held` as the truth,
// so a lease whose reply came too late (the script ran all the same) is not lost, only learnt at
// the next call. Lua numbers are doubles: exact up to 2^53.
// ARGV[6] is 1 on this process's first lease of the budget: what Redis says the node held before
// (a restart without an audit log, which rebuilt nothing) is counted as spent, and returned third.
constexpr std::string_view kLeaseBudget = R"lua(
local held = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local total = tonumber(redis.call('HGET', KEYS[1], 'total') or '0')
local used = tonumber(ARGV[2])
local before = 0
if ARGV[6] == '1' and held > used then before = held - used; used = held end
if used > held then total = total + (used - held); held = used end
local give = tonumber(ARGV[4]) - total
if give > tonumber(ARGV[3]) then give = tonumber(ARGV[3]) end
if give < 0 then give = 0 end
held = held + give
total = total + give
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', held), 'total', string.format('%.0f', total))
redis.call('EXPIREAT', KEYS[1], ARGV[5])
return {string.format('%.0f', held), string.format('%.0f', total), string.format('%.0f', before)}
)lua";

// What a node holds beyond what it spent (ARGV[2]) goes back to the fleet. Idempotent: the node's
// field becomes what it spent, whatever it was.
constexpr std::string_view kReturnBudget = R"lua(
local held = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local used = tonumber(ARGV[2])
if held > used then
  local total = tonumber(redis.call('HGET', KEYS[1], 'total') or '0') - (held - used)
  if total < 0 then total = 0 end
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', used), 'total', string.format('%.0f', total))
end
return 1
)lua";

// The fleet's token bucket (KEYS[1]): refilled by Redis's own clock, so the nodes' clocks do not
// matter. Returns {granted, microseconds until a token when none was}.
constexpr std::string_view kLeaseRate = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local want, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then tokens = burst; at = now end
if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000000) end
local give = math.floor(tokens)
if give > want then give = want end
tokens = tokens - give
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local wait = 0
if give == 0 then wait = math.ceil((1 - tokens) / rate * 1000000) end
return {give, wait}
)lua";

// Revocations (ARGV[2..]: id, until, id, until...) added to the set (KEYS[1]) and published on the
// channel (ARGV[1]); one the set holds already is not published again (every node subscribed then
// heard it, and the others load the set), only kept for the later of its two times.
constexpr std::string_view kAddRevocations = R"lua(
for i = 2, #ARGV, 2 do
  if redis.call('ZADD', KEYS[1], 'GT', ARGV[i + 1], ARGV[i]) == 1 then
    redis.call('PUBLISH', ARGV[1], ARGV[i] .. ' ' .. ARGV[i + 1])
  end
end
return 1
)lua";

// This node's name (KEYS[1]) for this instance (ARGV[1]) for 5 s more: 1, or the holder's instance.
constexpr std::string_view kClaimName = R"lua(
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'PX', 5000)
return 1
)lua";

// This node's name, given up at stop if this instance still holds it.
constexpr std::string_view kReleaseName = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
)lua";

// Revocations past their time, dropped by Redis's clock (a node's own clock may run ahead).
constexpr std::string_view kTrimRevocations = R"lua(
local now = redis.call('TIME')[1]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
return now
)lua";

// A command's arguments. (Built in a plain function: GCC 12 miscompiles a braced list of string
// literals in a coroutine's frame.)
template <class... Args>
std::vector<std::string> cmd(Args... args) {
  std::vector<std::string> out;
  out.reserve(sizeof...(args));
  (out.emplace_back(std::move(args)), ...);
  return out;
}

std::string number(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc{} ? std::string(buf, end) : "0";
}

std::uint64_t as_uint(const Reply& r) {
  if (r.type == Reply::Type::integer) return r.integer < 0 ? 0 : static_cast<std::uint64_t>(r.integer);
  std::uint64_t v = 0;
  std::from_chars(r.str.data(), r.str.data() + r.str.size(), v);
  return v;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(use_tuple);
}

// AUTH (and for the command connection SELECT) on a fresh connection; empty, or why it failed.
asio::awaitable<std::string> authenticate(RedisConnection& conn, const config::Fleet::Redis& redis, bool select) {
  if (!redis.password.empty()) {
    auto auth = cmd("AUTH");
    if (!redis.username.empty()) auth.push_back(redis.username);
    auth.push_back(redis.password);
    auto r = co_await conn.command(std::move(auth));
    if (!r.ok()) co_return "AUTH: " + r.error();
  }
  if (select && redis.db != 0) {
    auto select_db = cmd("SELECT", std::to_string(redis.db));
    auto r = co_await conn.command(std::move(select_db));
    if (!r.ok()) co_return "SELECT: " + r.error();
  }
  co_return std::string();
}

}  // namespace

Node::Node(config::Fleet settings, std::string node_name, ApplyRevocation apply)
    : settings_(std::move(settings)), node_name_(std::move(node_name)), apply_(std::move(apply)),
      instance_(std::to_string(::getpid()) + "@" + std::to_string(clock::unix_now())) {}

Node::~Node() { stop(); }

bool Node::start(std::string& error) {
  if (settings_.redis.tls) {
    auto ctx = make_redis_tls(settings_.redis, error);
    if (!ctx) return false;
    tls_ = ctx;
  }
  asio::co_spawn(io_, keep_commands(), asio::detached);
  asio::co_spawn(io_, keep_subscription(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
  return true;
}

void Node::queue_revocations(std::vector<std::pair<std::string, std::int64_t>> revoked) {
  pending_.insert(pending_.end(), revoked.begin(), revoked.end());
}

void Node::stop() {
  if (!thread_.joinable()) return;
  // The loops see stopping_ within one of their short waits and end; what still waits is cut off.
  asio::post(io_, [this] { stopping_ = true; });
  for (int i = 0; i < 40 && !io_.stopped(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  io_.stop();
  thread_.join();
  if (!pending_.empty()) {
    std::string ids;
    for (const auto& [id, until] : pending_) ids += (ids.empty() ? "" : ",") + id;
    log::error("fleet: revocations not yet written to Redis at exit (token.revocations_file keeps them for the next "
               "start)", {{"scopes", ids}});
  }
}

std::int64_t Node::current_as_of() const {
  return in_sync() ? clock::unix_now() : current_as_of_.load(std::memory_order_acquire);
}

std::string Node::trouble() const {
  std::lock_guard lock(trouble_mutex_);
  if (trouble_.empty() && !in_sync()) return "the revocation set is being loaded, or the subscription made again";
  return trouble_;
}

void Node::set_trouble(std::string why) {
  std::lock_guard lock(trouble_mutex_);
  if (why != trouble_ && !why.empty()) log::warn("fleet store unavailable", {{"reason", why}});
  if (why.empty() && !trouble_.empty()) log::info("fleet store available", {{"redis", settings_.redis.url}});
  trouble_ = std::move(why);
}

template <class T>
asio::awaitable<T> Node::on_fleet_thread(asio::awaitable<T> task) {
  co_return co_await asio::co_spawn(io_.get_executor(), std::move(task), asio::use_awaitable);
}

asio::awaitable<void> Node::keep_commands() {
  auto ex = co_await asio::this_coro::executor;
  std::chrono::milliseconds backoff(100);
  while (!stopping_) {
    RedisConnection conn(ex, settings_.redis, std::static_pointer_cast<asio::ssl::context>(tls_),
                         RedisConnection::Role::commands);
    std::string why = co_await conn.connect();
    if (why.empty()) {
      auto serve = [&]() -> asio::awaitable<void> {
        if (auto failed = co_await authenticate(conn, settings_.redis, true); !failed.empty()) {
          conn.close(failed);
          co_return;
        }
        // This node's name, held while it runs (Redis counts each node's budget leases under it):
        // while another running gateway holds it, this one takes no lease and publishes nothing.
        const std::string name_key = key("node:" + node_name_);
        while (conn.open() && !stopping_) {
          auto claim = cmd("EVAL", std::string(kClaimName), "1", name_key, instance_);
          auto claimed = co_await conn.command(std::move(claim));
          if (claimed.ok() && claimed.reply.type == Reply::Type::integer && claimed.reply.integer == 1) {
            if (!commands_) {
              commands_ = &conn;
              connected_ = true;
              backoff = std::chrono::milliseconds(100);
              if (subscribed_) set_trouble("");
            }
          } else if (claimed.ok()) {
            commands_ = nullptr;
            connected_ = false;
            set_trouble("another running gateway holds this node's name '" + node_name_ + "' (" + claimed.reply.str +
                        "): give every node its own");
          }
          if (commands_ && !pending_.empty()) co_await flush_pending();
          if (commands_ && on_tick) on_tick();
          for (int i = 0; i < 10 && conn.open() && !stopping_; ++i) co_await sleep_for(std::chrono::milliseconds(100));
        }
        if (stopping_ && conn.open()) {
          // The name is free for this node's next start at once, not after the hold expires.
          auto release = cmd("EVAL", std::string(kReleaseName), "1", name_key, instance_);
          co_await conn.command(std::move(release));
          conn.close("the gateway is stopping");
        }
      };
      co_await (conn.run() || serve());
      why = conn.closed_because();
    }
    commands_ = nullptr;
    connected_ = false;
    if (stopping_) break;
    stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
    set_trouble("Redis " + settings_.redis.host + ":" + std::to_string(settings_.redis.port) + ": " + why);
    co_await sleep_for(backoff);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::milliseconds(2000));
  }
}

asio::awaitable<void> Node::keep_subscription() {
  auto ex = co_await asio::this_coro::executor;
  std::chrono::milliseconds backoff(100);
  while (!stopping_) {
    RedisConnection sub(ex, settings_.redis, std::static_pointer_cast<asio::ssl::context>(tls_),
                        RedisConnection::Role::subscriber);
    sub.on_message = [this](std::string_view, std::string_view payload) { apply_message(payload); };
    std::string why = co_await sub.connect();
    if (why.empty()) {
      auto watch = [&]() -> asio::awaitable<void> {
        if (auto failed = co_await authenticate(sub, settings_.redis, false); !failed.empty()) {
          sub.close(failed);
          co_return;
        }
        auto subscribe = cmd("SUBSCRIBE", channel());
        auto r = co_await sub.command(std::move(subscribe));
        if (!r.ok()) {
          sub.close("SUBSCRIBE: " + r.error());
          co_return;
        }
        subscribed_ = true;
        backoff = std::chrono::milliseconds(100);
        // The whole set, read after the subscription is in place: a revocation made in between
        // arrives both ways, and applying one twice changes nothing.
        while (sub.open() && !stopping_ && !co_await load_revocations()) co_await sleep_for(std::chrono::milliseconds(100));
        if (!sub.open() || stopping_) co_return;
        current_as_of_ = clock::unix_now();
        in_sync_ = true;
        synced_once_ = true;
        if (connected_) set_trouble("");
        log::info("fleet: revocations in sync", {{"node", node_name_}});
        // A PING answered on the subscription proves every message published before it arrived.
        while (sub.open() && !stopping_) {
          co_await sleep_for(std::chrono::milliseconds(250));
          auto ping = cmd("PING");
          auto pong = co_await sub.command(std::move(ping));
          if (!pong.ok()) break;
          current_as_of_ = clock::unix_now();
        }
      };
      co_await (sub.run() || watch());
      why = sub.closed_because();
    }
    in_sync_ = false;
    subscribed_ = false;
    if (stopping_) break;
    stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
    set_trouble("Redis subscription: " + why);
    co_await sleep_for(backoff);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::milliseconds(2000));
  }
}

// "<scope id> <unix seconds until>"
void Node::apply_message(std::string_view payload) {
  auto space = payload.find(' ');
  if (space == std::string_view::npos) return;
  std::int64_t until = 0;
  auto rest = payload.substr(space + 1);
  if (std::from_chars(rest.data(), rest.data() + rest.size(), until).ec != std::errc{}) return;
  stats_.revocations_received.fetch_add(1, std::memory_order_relaxed);
  apply_(std::string(payload.substr(0, space)), until, true);
}

asio::awaitable<bool> Node::load_revocations() {
  if (!commands_) co_return false;
  auto trim = cmd("EVAL", std::string(kTrimRevocations), "1", key("revoked"));
  auto trimmed = co_await commands_->command(std::move(trim));
  if (!trimmed.ok()) {
    stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
    set_trouble("reading the fleet's revocations: " + trimmed.error());
    co_return false;
  }
  // In pages (ZSCAN: every member there for the whole scan is returned, whatever else changes), each
  // within the reply timeout however large the set. What is added meanwhile also arrives published.
  std::int64_t now = static_cast<std::int64_t>(as_uint(trimmed.reply));
  std::string cursor = "0";
  do {
    if (!commands_) co_return false;
    auto scan = cmd("ZSCAN", key("revoked"), cursor, "COUNT", "2000");
    auto r = co_await commands_->command(std::move(scan));
    if (!r.ok() || r.reply.type != Reply::Type::array || r.reply.elements.size() != 2) {
      stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
      set_trouble("reading the fleet's revocations: " + (r.ok() ? std::string("not a sorted set") : r.error()));
      co_return false;
    }
    cursor = r.reply.elements[0].str;
    const auto& page = r.reply.elements[1].elements;
    for (std::size_t i = 0; i + 1 < page.size(); i += 2) {
      auto until = static_cast<std::int64_t>(as_uint(page[i + 1]));
      // The first load at start is the node taking the fleet's state, as the revocations file is
      // taken: not recorded. Later ones record what the node missed while it was away.
      if (until >= now) apply_(page[i].str, until, synced_once_.load());
    }
  } while (cursor != "0");
  co_return true;
}

asio::awaitable<void> Node::flush_pending() {
  // One flush at a time: two would both send the first pending revocations and both drop them.
  if (flushing_) co_return;
  flushing_ = true;
  // In batches, one script each: a few thousand revocations (a revocations file at start) take a
  // few round trips, not two each.
  constexpr std::size_t kBatch = 256;
  while (!pending_.empty() && commands_) {
    std::size_t n = std::min(kBatch, pending_.size());
    auto args = cmd("EVAL", std::string(kAddRevocations), "1", key("revoked"), channel());
    for (std::size_t i = 0; i < n; ++i) {
      args.push_back(pending_[i].first);
      args.push_back(std::to_string(pending_[i].second));
    }
    auto written = co_await commands_->command(std::move(args));
    if (!written.ok()) break;
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    stats_.revocations_published.fetch_add(n, std::memory_order_relaxed);
  }
  flushing_ = false;
}

asio::awaitable<bool> Node::publish_revocations(std::vector<std::pair<std::string, std::int64_t>> revoked) {
  auto task = [this](std::vector<std::pair<std::string, std::int64_t>> list) -> asio::awaitable<bool> {
    // Ahead of older ones still pending (a revocations file being written at start), unless a flush
    // is sending the front batch now.
    auto at = flushing_ ? pending_.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(256, pending_.size()))
                        : pending_.begin();
    pending_.insert(at, list.begin(), list.end());
    auto mine_pending = [&] {
      return std::any_of(list.begin(), list.end(), [&](const auto& r) {
        return std::find(pending_.begin(), pending_.end(), r) != pending_.end();
      });
    };
    co_await flush_pending();
    // A flush already under way (a reconnect's) sends these too: waited for, within the timeout.
    for (auto waited = std::chrono::milliseconds(0); mine_pending() && commands_ && waited < settings_.redis.timeout;
         waited += std::chrono::milliseconds(10)) {
      co_await sleep_for(std::chrono::milliseconds(10));
    }
    co_return !mine_pending();
  };
  co_return co_await on_fleet_thread(task(std::move(revoked)));
}

asio::awaitable<BudgetLease> Node::lease(std::string budget_key, std::uint64_t used, std::uint64_t want,
                                         std::uint64_t limit, std::int64_t expires, bool first) {
  stats_.budget_leases.fetch_add(1, std::memory_order_relaxed);
  if (!commands_) co_return BudgetLease{true};
  // Kept a little past the scope's expiry: a lease is never asked for after it. (An expiry not
  // known, or already past, keeps it a day.)
  std::int64_t now = clock::unix_now();
  if (expires <= now) expires = now + 86'400;
  auto args = cmd("EVAL", std::string(kLeaseBudget), "1", std::move(budget_key), "n:" + node_name_, std::to_string(used),
                  std::to_string(want), std::to_string(limit), std::to_string(expires + 60), first ? "1" : "0");
  auto r = co_await commands_->command(std::move(args));
  if (!r.ok() || r.reply.elements.size() != 3) {
    stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
    if (!r.failed) log::warn("fleet: budget lease refused by Redis", {{"error", r.error()}});
    co_return BudgetLease{true};
  }
  BudgetLease got{false, as_uint(r.reply.elements[0]), as_uint(r.reply.elements[1]), as_uint(r.reply.elements[2])};
  if (want > 0 && got.held < used + want) stats_.budget_leases_short.fetch_add(1, std::memory_order_relaxed);
  co_return got;
}

asio::awaitable<BudgetLease> Node::lease_budget(std::string scope, std::string kind, std::uint64_t used,
                                                std::uint64_t want, std::uint64_t limit, std::int64_t expires,
                                                bool first) {
  std::string budget_key = key("budget:" + scope + ":" + kind);
  co_return co_await on_fleet_thread(lease(std::move(budget_key), used, want, limit, expires, first));
}

void Node::report_budget(std::string scope, std::string kind, std::uint64_t used, std::uint64_t limit,
                         std::int64_t expires, std::function<void(const BudgetLease&)> done) {
  auto task = [](Node* self, std::string k, std::uint64_t u, std::uint64_t l, std::int64_t e,
                 std::function<void(const BudgetLease&)> then) -> asio::awaitable<void> {
    auto got = co_await self->lease(std::move(k), u, 0, l, e, false);
    then(got);
  };
  asio::co_spawn(io_, task(this, key("budget:" + scope + ":" + kind), used, limit, expires, std::move(done)),
                 asio::detached);
}

void Node::return_budget(std::string scope, std::string kind, std::uint64_t used) {
  asio::co_spawn(io_, give_back(key("budget:" + scope + ":" + kind), used), asio::detached);
}

asio::awaitable<void> Node::give_back(std::string budget_key, std::uint64_t used) {
  if (!commands_) co_return;
  auto args = cmd("EVAL", std::string(kReturnBudget), "1", std::move(budget_key), "n:" + node_name_,
                  std::to_string(used));
  auto r = co_await commands_->command(std::move(args));
  if (!r.ok()) stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
}

asio::awaitable<RateLease> Node::lease_rate(std::string bucket, std::uint64_t want, double rate, double burst) {
  auto task = [this](std::string k, std::uint64_t w, double r, double b) -> asio::awaitable<RateLease> {
    stats_.rate_leases.fetch_add(1, std::memory_order_relaxed);
    if (!commands_) co_return RateLease{true};
    auto res = co_await commands_->command(
        cmd("EVAL", std::string(kLeaseRate), "1", std::move(k), std::to_string(w), number(r), number(b)));
    if (!res.ok() || res.reply.elements.size() != 2) {
      stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
      co_return RateLease{true};
    }
    RateLease lease{false, as_uint(res.reply.elements[0]),
                    static_cast<std::int64_t>(as_uint(res.reply.elements[1])) * 1000};
    if (lease.granted < w) stats_.rate_leases_short.fetch_add(1, std::memory_order_relaxed);
    co_return lease;
  };
  std::string bucket_key = key("rate:" + bucket);
  co_return co_await on_fleet_thread(task(std::move(bucket_key), want, rate, burst));
}

}  // namespace scopegate::fleet
