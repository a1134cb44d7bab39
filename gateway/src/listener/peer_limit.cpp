#include "listener/peer_limit.hpp"


namespace scopegate::listener {

std::size_t PeerTable::KeyHash::operator()(const Key& k) const noexcept {
  // FNV-1a over the 16 bytes: addresses are not chosen to collide in a 16-way table of counts.
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char b : k) h = (h ^ b) * 1099511628211ull;
  return static_cast<std::size_t>(h);
}

PeerTable::Key PeerTable::key_of(const boost::asio::ip::address& peer) {
  if (peer.is_v4()) return boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, peer.to_v4()).to_bytes();
  return peer.to_v6().to_bytes();
}

PeerTable::Shard& PeerTable::shard_of(const Key& key) const { return shards_[KeyHash{}(key) % kShards]; }

bool PeerTable::try_acquire(const boost::asio::ip::address& peer, std::size_t cap) {
  Key key = key_of(peer);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto& n = shard.counts[key];
  if (n >= cap) {
    if (n == 0) shard.counts.erase(key);
    return false;
  }
  ++n;
  return true;
}

void PeerTable::release(const boost::asio::ip::address& peer) {
  Key key = key_of(peer);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.counts.find(key);
  if (it == shard.counts.end()) return;
  if (--it->second == 0) shard.counts.erase(it);
}

std::size_t PeerTable::count(const boost::asio::ip::address& peer) const {
  Key key = key_of(peer);
  const Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.counts.find(key);
  return it == shard.counts.end() ? 0 : it->second;
}

PeerTable& peer_table() {
  static PeerTable table;
  return table;
}

}  // namespace scopegate::listener
