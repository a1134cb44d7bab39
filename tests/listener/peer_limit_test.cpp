#include "listener/peer_limit.hpp"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

using namespace scopegate::listener;
using boost::asio::ip::make_address;

TEST_CASE("per-peer counts: capped per address, released on close") {
  PeerTable table;
  auto a = make_address("127.0.0.2");
  auto b = make_address("127.0.0.3");
  CHECK(table.try_acquire(a, 2));
  CHECK(table.try_acquire(a, 2));
  CHECK_FALSE(table.try_acquire(a, 2));
  CHECK(table.try_acquire(b, 2));  // another peer is not affected
  CHECK(table.count(a) == 2);
  table.release(a);
  CHECK(table.try_acquire(a, 2));
  table.release(a);
  table.release(a);
  CHECK(table.count(a) == 0);
  table.release(a);  // nothing to release: no underflow
  CHECK(table.count(a) == 0);
  CHECK_FALSE(table.try_acquire(b, 1));  // a refusal counts nothing
  CHECK(table.count(b) == 1);
}

TEST_CASE("an IPv4 peer and its IPv4-mapped IPv6 form are one peer") {
  PeerTable table;
  CHECK(table.try_acquire(make_address("10.1.2.3"), 1));
  CHECK_FALSE(table.try_acquire(make_address("::ffff:10.1.2.3"), 1));
  CHECK(table.try_acquire(make_address("2001:db8::1"), 1));
}

TEST_CASE("counts hold across threads") {
  PeerTable table;
  auto peer = make_address("192.0.2.7");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        if (table.try_acquire(peer, 1000000)) table.release(peer);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(table.count(peer) == 0);
}
