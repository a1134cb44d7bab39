// The token key of the worked example in docs/protocol.md §2 (kid k1, bytes 00..1f), shared by the
// delegation tests.
#pragma once

#include "delegation/token.hpp"

namespace scopegate::delegation::testing {

inline Keyring example_keys() {
  Keyring k;
  Secret s{};
  for (int i = 0; i < 32; ++i) s[i] = static_cast<unsigned char>(i);
  k.keys["k1"] = s;
  k.signing_kid = "k1";
  return k;
}

}  // namespace scopegate::delegation::testing
