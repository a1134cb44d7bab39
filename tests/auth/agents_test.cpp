#include "auth/agents.hpp"

#include <doctest/doctest.h>

#include "crypto/hex.hpp"

using namespace scopegate;

TEST_CASE("agents are found by key hash, certificate subject and id") {
  std::vector<config::Agent> agents(2);
  agents[0].id = "planner";
  agents[0].api_key_sha256 = auth::sha256("planner-secret");
  agents[1].id = "researcher";
  agents[1].certificate_subject = "CN=researcher,O=Example";
  auth::AgentDirectory dir(agents);
  CHECK(dir.by_key("planner-secret") == &agents[0]);
  CHECK(dir.by_key("planner-secreT") == nullptr);
  CHECK(dir.by_key("") == nullptr);
  CHECK(dir.by_subject("CN=researcher,O=Example") == &agents[1]);
  CHECK(dir.by_subject("CN=researcher") == nullptr);
  CHECK(dir.by_id("researcher") == &agents[1]);
  CHECK(crypto::to_hex(auth::sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("credential headers") {
  CHECK(auth::credential_key("Authorization", "Bearer k") == "k");
  CHECK(auth::credential_key("authorization", "bearer   k") == "k");
  CHECK(auth::credential_key("Authorization", "Basic k") == "");
  CHECK(auth::credential_key("Authorization", "Bearer ") == "");
  CHECK(auth::credential_key("X-Agent-Key", "k") == "k");
}
