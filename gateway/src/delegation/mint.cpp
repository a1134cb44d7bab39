#include "delegation/mint.hpp"

#include <algorithm>
#include <chrono>

namespace scopegate::delegation {

namespace {

std::string join(const Grants& g) {
  std::string out;
  for (const auto& p : g) out += (out.empty() ? "" : ", ") + p;
  return out.empty() ? "nothing" : out;
}

}  // namespace

MintResult mint_child_scope(const ChildMint& in) {
  const auto& parent = in.parent;
  int depth = parent.depth() + 1;
  int limit = std::min(in.target.max_depth, in.settings.max_depth);
  if (depth > limit) {
    return MintRefusal{http::ErrorCode::depth_exceeded, "a scope for " + in.target.id + " would be at depth " +
                                                            std::to_string(depth) + ", deeper than allowed (" +
                                                            std::to_string(limit) + ")"};
  }
  // What the agent may get: the caller's rights ∩ the ceiling. Asking for more is refused, never
  // trimmed silently: the caller learns exactly what it may not pass on.
  Grants available = intersect(intersect_all(parent.grant_sets), in.ceiling);
  if (in.requested) {
    for (const auto& g : *in.requested) {
      if (!set_covers(available, g)) {
        return MintRefusal{http::ErrorCode::grant_exceeded, "cannot delegate " + g + " to " + in.target.id +
                                                                " (at most: " + join(available) + ")"};
      }
    }
  }
  ScopeBlock block;
  block.sid = std::string(in.sid);
  block.par = parent.current().sid;
  block.agt = in.target.id;
  block.scp = in.requested ? *in.requested : available;
  block.obj = in.objective;
  block.tsk = in.task;
  block.iat = in.now;
  block.exp = std::min(in.now + in.ttl_s, parent.expires);  // never beyond the parent's expiry
  auto minted = mint_child(in.keyring, in.parent_token, parent, block);
  if (!minted) return MintRefusal{http::ErrorCode::token_invalid, "the token's key is no longer configured"};
  if (minted->size() > 8192 || std::count(minted->begin(), minted->end(), '.') > 17) {
    return MintRefusal{http::ErrorCode::depth_exceeded,
                       "the child token would exceed dst1's limits (16 blocks, 8 KiB)"};
  }

  MintedScope out;
  auto& r = out.record;
  r.id = block.sid;
  r.parent = block.par;
  r.root = parent.root().sid;
  r.depth = depth;
  for (const auto& s : parent.scopes) r.path += s.sid + "/";
  r.path += r.id;
  r.principal = parent.root().sub;
  r.actor = in.target.id;
  r.delegator = std::string(in.delegator);
  r.objective = block.obj;
  r.task = block.tsk;
  r.grants = std::move(block.scp);
  r.iat = block.iat;
  r.exp = block.exp;
  out.token = std::move(*minted);
  return out;
}

MintResult mint_root_scope(const RootMint& in) {
  const config::Agent& caller = in.caller;
  Grants grants = in.requested ? *in.requested : caller.grants;
  for (const auto& g : grants) {
    if (!set_covers(caller.grants, g)) {
      return MintRefusal{http::ErrorCode::grant_exceeded, "agent " + caller.id + " may never hold " + g};
    }
  }
  ScopeBlock block;
  block.sid = std::string(in.sid);
  block.kid = in.keyring.signing_kid;
  block.sub = std::string(in.principal);
  block.aud = in.settings.audience;
  block.agt = caller.id;
  block.scp = grants;
  block.obj = in.objective;
  block.iat = in.now;
  block.exp = in.now + in.ttl_s;
  auto token = mint_root(in.keyring, block);
  if (!token) return MintRefusal{http::ErrorCode::policy_denied, "no signing key is configured"};
  MintedScope out;
  out.token = std::move(*token);
  auto& s = out.record;
  s.id = block.sid;
  s.root = block.sid;
  s.depth = 0;
  s.path = block.sid;
  s.principal = std::string(in.principal);
  s.actor = caller.id;
  s.objective = block.obj;
  s.grants = std::move(grants);
  s.iat = block.iat;
  s.exp = block.exp;
  return out;
}

}  // namespace scopegate::delegation
