// A lingering close, as nginx's lingering_close. When the gateway answers and closes while the
// client may still be sending (an unread body, pipelined requests, a request written after a
// refusal at accept), closing at once leaves unread bytes in the socket, and the kernel answers
// them with a reset that can destroy the reply before the client reads it. So: shut down the
// sending side (the client reads the reply, then end-of-stream), read and discard what still
// comes for at most `limit` or kMaxLingerBytes, then close.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>

namespace scopegate::http {

inline constexpr std::size_t kMaxLingerBytes = 1024 * 1024;

// Raw TCP reads: on a TLS connection the discarded bytes are never decrypted. `limit` zero closes
// at once (timeouts.lingering_close: off).
boost::asio::awaitable<void> lingering_close(boost::asio::ip::tcp::socket& socket, std::chrono::milliseconds limit);

}  // namespace scopegate::http
