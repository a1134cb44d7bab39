// OpenSSL server contexts for TLS listeners (optionally mTLS); the client side for https upstreams
// is upstream/tls_client.hpp.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

#include "config/config.hpp"

namespace scopegate::listener {

// nullptr with `error` set when the certificate, key or CA cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> make_server_context(const config::TlsServer& tls, std::string& error);

// The RFC 2253 subject of the peer's certificate, when the handshake verified one; else empty.
std::string verified_peer_subject(SSL* ssl);

}  // namespace scopegate::listener
