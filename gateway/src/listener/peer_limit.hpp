// Open client connections per peer address, across every worker thread: the cap of
// limits.max_connections_per_peer, so one client (or one compromised agent host) cannot take every
// connection slot. Touched twice per connection, at accept and at close: a few mutex-guarded
// shards are cheap enough there and keep the code obvious.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace scopegate::listener {

class PeerTable {
 public:
  // Counts one more connection from `peer`, unless it already holds `cap`.
  bool try_acquire(const boost::asio::ip::address& peer, std::size_t cap);
  void release(const boost::asio::ip::address& peer);
  std::size_t count(const boost::asio::ip::address& peer) const;

 private:
  // IPv4 peers as IPv4-mapped IPv6, so both forms of one address share a count.
  using Key = std::array<unsigned char, 16>;
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<Key, std::uint32_t, KeyHash> counts;  // only peers with a connection open
  };
  static constexpr std::size_t kShards = 16;

  static Key key_of(const boost::asio::ip::address& peer);
  Shard& shard_of(const Key& key) const;

  mutable std::array<Shard, kShards> shards_;
};

// The table of this process (every listener, every worker).
PeerTable& peer_table();

}  // namespace scopegate::listener
