// The relay's response tap (RequestContext::response_tap) sees every byte the client got, in order,
// an SSE stream event by event: the upstream sends an event only once the tap has seen the one
// before, so a relay that buffered would stall this test instead of passing it.
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "app/app.hpp"
#include "runtime/snapshot.hpp"
#include "runtime/worker.hpp"
#include "config/loader.hpp"
#include "pipeline/stages.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;
using scopegate::pipeline::RequestContext;

struct Tapped {
  std::string bytes;
  std::size_t calls = 0;
  std::size_t last_calls = 0;
  bool last_was_final = false;  // no piece came after the one marked last
};
Tapped* tapped = nullptr;  // a tap is a plain function: what it sees is kept here

void record_piece(RequestContext&, std::string_view piece, bool last) {
  tapped->bytes.append(piece);
  ++tapped->calls;
  tapped->last_was_final = last;
  if (last) ++tapped->last_calls;
}

std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return std::string(size) + std::string(data) + "\r\n";
}

// An SSE upstream: one chunk per event, each sent only once the tap has seen every byte before it.
asio::awaitable<void> sse_upstream(tcp::acceptor& acceptor, const std::vector<std::string>& events, bool& stalled) {
  auto socket = co_await acceptor.async_accept(asio::use_awaitable);
  beast::flat_buffer buffer;
  bhttp::request<bhttp::empty_body> request;
  co_await bhttp::async_read(socket, buffer, request, asio::use_awaitable);
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  co_await asio::async_write(socket, asio::buffer(head), asio::use_awaitable);
  asio::steady_timer timer(socket.get_executor());
  std::size_t sent = 0;
  for (const auto& event : events) {
    std::string piece = chunk(event);
    co_await asio::async_write(socket, asio::buffer(piece), asio::use_awaitable);
    sent += event.size();
    for (int waited = 0; tapped->bytes.size() < sent; ++waited) {
      if (waited == 400) {  // 2 s: the relay held the event back
        stalled = true;
        co_return;
      }
      timer.expires_after(5ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }
  std::string end = "0\r\n\r\n";
  co_await asio::async_write(socket, asio::buffer(end), asio::use_awaitable);
}

asio::awaitable<void> gateway(scopegate::runtime::Worker& worker, const scopegate::runtime::Snapshot& snapshot,
                              tcp::acceptor& acceptor) {
  auto socket = co_await acceptor.async_accept(asio::use_awaitable);
  scopegate::pipeline::ClientInfo info;
  info.peer = socket.remote_endpoint();
  info.peer_address = info.peer.address().to_string();
  scopegate::http::AnyStream client(std::move(socket));
  scopegate::runtime::SessionHandle handle;
  handle.client = &client;
  beast::flat_buffer buffer;
  client.framing().expect_header({});
  co_await scopegate::pipeline::serve_request(worker, snapshot, client, buffer, info, handle, &record_piece);
}

asio::awaitable<void> agent(tcp::endpoint gateway_at, std::string& body) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(gateway_at, asio::use_awaitable);
  std::string request = "GET /events/stream HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
  co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  co_await bhttp::async_read(socket, buffer, response, asio::use_awaitable);
  body = response.body();
}

}  // namespace

TEST_CASE("relay: the response tap sees every byte the client got, in order, event by event") {
  Tapped seen;
  tapped = &seen;
  asio::io_context io;
  tcp::acceptor upstream(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::acceptor listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::string yaml = "listeners:\n  - port: 0\nroutes:\n  - name: events\n    access: open\n"
                     "    match: { path_prefix: /events }\n    upstream: http://127.0.0.1:" +
                     std::to_string(upstream.local_endpoint().port()) + "\n";
  auto loaded = scopegate::config::load_string(yaml, "relay_tap_test.yaml");
  REQUIRE(loaded.errors.empty());
  auto snapshot = scopegate::app::build_snapshot(std::move(*loaded.config), loaded.errors);
  REQUIRE(snapshot);
  scopegate::app::App app("relay_tap_test.yaml", snapshot);
  scopegate::runtime::Worker worker(app);

  std::vector<std::string> events = {"event: delta\ndata: {\"text\":\"Hel\"}\n\n",
                                     "event: delta\ndata: {\"text\":\"lo\"}\n\n",
                                     std::string(20000, 'x') + "\n\n",  // more than one relay buffer
                                     "event: usage\ndata: {\"output_tokens\":3}\n\n"};
  std::string expected;
  for (const auto& e : events) expected += e;
  bool stalled = false;
  std::string body;
  asio::co_spawn(io, sse_upstream(upstream, events, stalled), asio::detached);
  asio::co_spawn(io, gateway(worker, *snapshot, listener), asio::detached);
  asio::co_spawn(io, agent(listener.local_endpoint(), body), asio::detached);
  io.run_for(10s);

  CHECK_FALSE(stalled);
  CHECK(body == expected);
  CHECK(seen.bytes == expected);
  CHECK(seen.calls >= events.size());
  CHECK(seen.last_calls == 1);
  CHECK(seen.last_was_final);
  tapped = nullptr;
}
