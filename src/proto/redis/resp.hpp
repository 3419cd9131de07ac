// proto/redis/resp.hpp: the Redis serialization protocol, version 2 (RESP2,
// https://redis.io/docs/latest/develop/reference/protocol-spec/), as a
// client speaks it: commands out as arrays of bulk strings, replies in.
//
// The reader is bounded: a reply's bulk strings, its arrays' element counts,
// its nesting and its header lines all have limits, so a server (or what
// pretends to be one) that sends garbage or announces a 4 GiB string gets a
// clear error, never an allocation of that size or a buffer that grows for
// ever (decision 0021: why this and not hiredis' reader).
//
// It resumes where it stopped: a reply that arrives in pieces (a history of
// thousands of entries, read 64 KiB at a time) is parsed element by element
// as the bytes come, each byte once, not again from its start on every read.
#pragma once

#include "base/bytes.hpp"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duplex::proto::redis {

/// One reply. Strings (simple, error, bulk) keep their bytes in `text`.
struct Value {
    enum class Kind : std::uint8_t { Simple, Error, Integer, Bulk, Nil, Array };
    Kind kind = Kind::Nil;
    std::string text;
    std::int64_t integer = 0;
    std::vector<Value> elements;

    bool is_error() const noexcept { return kind == Kind::Error; }
    bool is_string() const noexcept { return kind == Kind::Simple || kind == Kind::Bulk; }
    /// Whether this is an array whose first element is the string `s` (pub/sub pushes).
    bool is_push(std::string_view s) const noexcept {
        return kind == Kind::Array && !elements.empty() && elements[0].is_string() && elements[0].text == s;
    }
};

struct ReaderLimits {
    std::size_t max_bulk = 64u << 20;         // one bulk string
    std::size_t max_elements = 1u << 20;      // one array
    std::size_t max_depth = 8;                // arrays within arrays
    std::size_t max_line = 64u << 10;         // a header, a simple string or an error
    std::size_t max_reply = 128u << 20;       // one whole reply, held until it is complete
    std::size_t max_values = 1u << 20;        // values in one reply, all levels (memory as it is parsed)
};

/// Parses replies from the bytes a server sent, in order.
class Reader {
public:
    explicit Reader(ReaderLimits limits = {}) : limits_(limits) {}

    /// Appends bytes as they were read.
    void feed(base::Bytes data);
    /// The next whole reply, or nothing yet (more bytes needed) or after an
    /// error (see error()): the stream is then unusable and must be closed.
    std::optional<Value> next();
    /// Why the stream is broken ("" while it is not).
    const std::string& error() const noexcept { return error_; }
    /// Bytes received and not yet parsed into a value.
    std::size_t buffered() const noexcept { return buf_.size() - pos_; }
    /// Bytes of an incomplete reply held, parsed or not (at most max_reply).
    std::size_t held() const noexcept { return reply_bytes_ + buffered(); }

private:
    enum class Step { Done, More, Bad };
    // One value that is not an array with elements to come, or the header of
    // one (then `open` is its element count).
    Step parse_one(std::size_t& at, Value& out, std::size_t& open);
    Step line(std::size_t& at, std::string_view& out);
    Step fail(std::string why);

    // An array whose elements are still coming.
    struct Open {
        Value array;
        std::size_t missing;
    };

    ReaderLimits limits_;
    std::string buf_;
    std::size_t pos_ = 0;            // where the next unparsed value begins
    std::vector<Open> open_;         // the arrays being filled, outermost first
    std::size_t values_ = 0;         // in the reply being parsed
    std::size_t reply_bytes_ = 0;    // of the reply being parsed, parsed already
    std::string error_;
};

/// Appends one command (an array of bulk strings) to `out`.
void append_command(std::string& out, std::initializer_list<std::string_view> args);
void append_command(std::string& out, const std::vector<std::string_view>& args);

}  // namespace duplex::proto::redis
