// The TLS settings both sides of the gateway share: listeners (listener/tls) and https upstreams
// (upstream/tls_client) refuse the same old protocol versions and offer only HTTP/1.1 over ALPN.
#pragma once

#include <boost/asio/ssl/context.hpp>

namespace scopegate::crypto {

inline constexpr auto kTlsContextOptions =
    boost::asio::ssl::context::default_workarounds | boost::asio::ssl::context::no_sslv2 |
    boost::asio::ssl::context::no_sslv3 | boost::asio::ssl::context::no_tlsv1 |
    boost::asio::ssl::context::no_tlsv1_1 | boost::asio::ssl::context::single_dh_use;

// Only HTTP/1.1 is spoken, in ALPN's wire format (length-prefixed protocol names).
inline constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

}  // namespace scopegate::crypto
