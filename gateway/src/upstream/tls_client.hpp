// The OpenSSL client context for an https upstream (CA file or the system's store, HTTP/1.1 ALPN).
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

#include "config/config.hpp"

namespace scopegate::upstream {

// nullptr with `error` set when the CA cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> make_client_context(const config::Upstream& upstream, std::string& error);

}  // namespace scopegate::upstream
