#include "upstream/tls_client.hpp"

#include <openssl/ssl.h>

#include "crypto/tls.hpp"

namespace scopegate::upstream {

namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> make_client_context(const config::Upstream& upstream, std::string& error) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(crypto::kTlsContextOptions, ec);
  if (!upstream.ca_file.empty()) ctx->load_verify_file(upstream.ca_file, ec);
  else ctx->set_default_verify_paths(ec);
  if (ec) {
    error = "CA for " + upstream.url + ": " + ec.message();
    return nullptr;
  }
  SSL_CTX_set_alpn_protos(ctx->native_handle(), crypto::kAlpnHttp11, sizeof crypto::kAlpnHttp11);
  return ctx;
}

}  // namespace scopegate::upstream
