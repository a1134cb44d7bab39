#include "listener/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "crypto/tls.hpp"

namespace scopegate::listener {

namespace ssl = boost::asio::ssl;

namespace {
// Only HTTP/1.1 is spoken: a client offering h2 via ALPN must fall back, not guess.
int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                  unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, crypto::kAlpnHttp11, sizeof crypto::kAlpnHttp11, in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}
}  // namespace

std::shared_ptr<ssl::context> make_server_context(const config::TlsServer& tls, std::string& error) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(crypto::kTlsContextOptions, ec);
  if (!ec) ctx->use_certificate_chain_file(tls.certificate, ec);
  if (ec) {
    error = "certificate '" + tls.certificate + "': " + ec.message();
    return nullptr;
  }
  ctx->use_private_key_file(tls.key, ssl::context::pem, ec);
  if (ec) {
    error = "key '" + tls.key + "': " + ec.message();
    return nullptr;
  }
  if (!tls.client_ca.empty()) {
    ctx->load_verify_file(tls.client_ca, ec);
    if (ec) {
      error = "client_ca '" + tls.client_ca + "': " + ec.message();
      return nullptr;
    }
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  SSL_CTX_set_alpn_select_cb(ctx->native_handle(), select_http11, nullptr);
  return ctx;
}

std::string verified_peer_subject(SSL* ssl) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) return {};
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return {};
  std::string out;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    // RFC 2253 order and escaping, UTF-8 kept as is: "CN=planner,O=Example".
    if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
      char* data = nullptr;
      long n = BIO_get_mem_data(bio, &data);
      if (n > 0) out.assign(data, static_cast<std::size_t>(n));
    }
    BIO_free(bio);
  }
  X509_free(cert);
  return out;
}

}  // namespace scopegate::listener
