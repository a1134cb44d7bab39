// What every harness needs: the input as a padded string, and a way to fail loudly when a
// property the gateway relies on does not hold (libFuzzer saves the input of any abort).
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace scopegate::fuzz {

// The input copied into a string with simdjson's padding reserved past its end, as the gateway
// holds a body it inspects (a parser reading the raw fuzzer buffer in place would overrun it).
inline std::string padded_copy(const std::uint8_t* data, std::size_t size) {
  std::string out;
  out.reserve(size + simdjson::SIMDJSON_PADDING);
  out.assign(reinterpret_cast<const char*>(data), size);
  return out;
}

// A broken property is a finding like a crash: print what broke and abort.
inline void require(bool holds, const char* property) {
  if (holds) return;
  std::fprintf(stderr, "fuzz: property broken: %s\n", property);
  std::abort();
}

// Every error reply and audit record the gateway writes must be JSON a client can read.
inline bool is_valid_json(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element ignored;
  return !parser.parse(text.data(), text.size(), true).get(ignored);
}

// An error reply (http::error_body) must be JSON. Told apart: a body broken by its structure, and
// one that only quotes bytes that are not UTF-8 (which no JSON text may hold either).
inline void require_json_reply(const std::string& body, std::string_view message) {
  if (is_valid_json(body)) return;
  std::fprintf(stderr, "fuzz: the reply: ");
  for (unsigned char c : body) {
    if (c >= 0x20 && c < 0x7f) std::fputc(c, stderr);
    else std::fprintf(stderr, "\\x%02x", c);
  }
  std::fputc('\n', stderr);
  if (!simdjson::validate_utf8(message.data(), message.size())) {
    require(false, "an error message quotes bytes that are not UTF-8, so the JSON reply is not UTF-8");
  }
  require(false, "the error reply is valid JSON");
}

}  // namespace scopegate::fuzz
