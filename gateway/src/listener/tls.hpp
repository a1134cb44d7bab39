// OpenSSL contexts: server side for TLS listeners (optionally mTLS), client side for https upstreams.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

#include "config/config.hpp"

namespace scopegate::listener {

// nullptr with `error` set when the certificate, key or CA cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> make_server_context(const config::TlsServer& tls, std::string& error);
std::shared_ptr<boost::asio::ssl::context> make_client_context(const config::Upstream& upstream, std::string& error);

// The RFC 2253 subject of the peer's certificate, when the handshake verified one; else empty.
std::string verified_peer_subject(SSL* ssl);

}  // namespace scopegate::listener
