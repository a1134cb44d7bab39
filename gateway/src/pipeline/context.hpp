// Everything one request carries through the pipeline stages.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <chrono>
#include <optional>
#include <string>

#include "app/snapshot.hpp"
#include "app/worker.hpp"
#include "http/any_stream.hpp"

namespace scopegate::pipeline {

namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;

struct ClientInfo {
  boost::asio::ip::tcp::endpoint peer;
  std::string peer_address;  // peer.address() as text, made once per connection
  bool tls = false;
};

struct RequestContext {
  RequestContext(app::Worker& w, const app::Snapshot& s, http::AnyStream& c, boost::beast::flat_buffer& b,
                 const ClientInfo& i, app::SessionHandle& h)
      : worker(w), snapshot(s), client(c), client_buffer(b), info(i), handle(h) {}

  app::Worker& worker;
  const app::Snapshot& snapshot;
  http::AnyStream& client;
  boost::beast::flat_buffer& client_buffer;
  const ClientInfo& info;
  app::SessionHandle& handle;

  bhttp::request_parser<bhttp::buffer_body> parser;
  std::string request_id;
  const config::Route* route = nullptr;

  // Facts about the request as the client sent it, taken before hygiene rewrites the header.
  bhttp::verb method = bhttp::verb::unknown;
  unsigned version = 11;
  bool client_keep_alive = false;
  bool expect_continue = false;
  bool has_body = false;
  bool body_consumed = true;  // false while request body bytes may still be unread on the socket
  std::optional<std::uint64_t> content_length;
  std::string_view host;  // as sent (points into the parsed header), for Forwarded and preserve_host

  Clock::time_point started = Clock::now();
  Clock::time_point deadline = Clock::time_point::max();  // route's request_total, if on

  // Outcome, for the stages that watch every request (audit and metrics, later).
  unsigned status = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
};

}  // namespace scopegate::pipeline
