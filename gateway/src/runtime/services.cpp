#include "runtime/services.hpp"

namespace scopegate::runtime {

std::shared_ptr<const Snapshot> Services::snapshot() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

}  // namespace scopegate::runtime
