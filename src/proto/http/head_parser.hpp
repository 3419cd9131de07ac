// proto/http/head_parser.hpp: an incremental parser for the head of an HTTP/1.1
// request or response (RFC 9112 §2.2 message parsing, §3 request line, §4 status
// line, §5 field lines). Bytes may arrive one at a time; it consumes exactly the
// head and leaves what follows (a body, or WebSocket frames) to the caller.
//
// Limits (options): the length of one line and of the whole head (-> 414 for the
// request line, 431 otherwise), and the number of fields (-> 431).
#pragma once

#include "base/bytes.hpp"
#include "proto/http/error.hpp"
#include "proto/http/message.hpp"

#include <cstddef>
#include <string>
#include <system_error>

namespace duplex::proto::http {

struct HeadLimits {
    std::size_t max_line = 8 * 1024;     // one line, request line included
    std::size_t max_head = 16 * 1024;    // the whole head, CRLFs included
    std::size_t max_fields = 100;        // number of header field lines
};

enum class HeadKind { Request, Response };
enum class HeadState { NeedMore, Complete, Error };

class HeadParser {
public:
    explicit HeadParser(HeadKind kind, HeadLimits limits = {}) : kind_(kind), limits_(limits) {}

    /// Feeds bytes and returns how many were consumed: all of them while the head
    /// is incomplete, up to and including its final empty line once it is
    /// complete, and all of them after an error (the parser is then terminal).
    std::size_t feed(base::Bytes in);

    HeadState state() const noexcept { return state_; }
    std::error_code error() const noexcept { return error_; }
    /// Valid once state() is Complete, for a HeadKind::Request parser.
    Request& request() noexcept { return request_; }
    /// Valid once state() is Complete, for a HeadKind::Response parser.
    Response& response() noexcept { return response_; }
    /// Bytes buffered so far (for a caller that wants to see a partial head).
    std::size_t buffered() const noexcept { return buf_.size(); }

    /// Makes the parser ready for the next message on the same connection.
    void reset();

private:
    void fail(HttpError e);
    void finish();
    bool parse_request_line(std::string_view line);
    bool parse_status_line(std::string_view line);
    bool parse_field_line(std::string_view line, Headers& into);

    HeadKind kind_;
    HeadLimits limits_;
    HeadState state_ = HeadState::NeedMore;
    std::error_code error_;
    std::string buf_;
    std::size_t line_start_ = 0;
    std::size_t first_line_start_ = 0;
    std::size_t lines_ = 0;          // non-empty lines seen (start line + fields)
    std::size_t leading_empty_ = 0;
    Request request_;
    Response response_;
};

}  // namespace duplex::proto::http
