// The completion token for I/O whose failures are everyday outcomes (EOF, reset, timeout): the
// coroutine gets (error_code, result...) back as a value instead of an exception (STYLE.md, 2).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace scopegate::http {

inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace scopegate::http
