// duplex/data_channel.hpp: an RTCDataChannel (W3C webrtc-pc §6.2) over SCTP
// over DTLS (RFC 8831, 8832).
//
//   auto dc = pc.create_data_channel("chat");
//   dc->on_open([ch = *dc]() mutable { (void)ch.send("hello"); });
//   dc->on_message([](std::string_view data, bool is_binary) { ... });
//
// A DataChannel is a handle (cheap to copy) to a channel that lives on its
// PeerConnection's loop. Its callbacks run on that loop. Calls from another
// thread are posted to the loop (and then report success, since the outcome
// is not known yet). Events that happen before a handler is set are kept and
// delivered when it is set (the open event, and messages).
#pragma once

#include <duplex/status.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace duplex {

namespace detail {
class PeerImpl;
struct ChannelState;
}  // namespace detail

/// RTCDataChannelInit. max_retransmits and max_packet_life_time are exclusive.
struct DataChannelInit {
    bool ordered = true;
    std::optional<std::uint16_t> max_retransmits;       ///< partial reliability: retransmissions
    std::optional<std::uint32_t> max_packet_life_time;  ///< partial reliability: milliseconds
    std::string protocol;                               ///< subprotocol name, carried in DCEP
    bool negotiated = false;                            ///< true: no DCEP; both sides create it with `id`
    std::optional<std::uint16_t> id;                    ///< required when negotiated
};

enum class DataChannelState { Connecting, Open, Closing, Closed };
const char* to_string(DataChannelState s) noexcept;

class DataChannel {
public:
    using MessageHandler = std::function<void(std::string_view data, bool is_binary)>;

    DataChannel() = default;  ///< an empty handle; every call on it is invalid_state

    std::string label() const;
    std::string protocol() const;
    std::optional<std::uint16_t> id() const;  ///< SCTP stream id; unset until the DTLS role is known
    bool ordered() const;
    std::optional<std::uint16_t> max_retransmits() const;
    std::optional<std::uint32_t> max_packet_life_time() const;
    bool negotiated() const;
    DataChannelState ready_state() const;

    /// A text message (UTF-8; PPID 51, or 56 when empty).
    SendResult send(std::string_view text);
    /// A binary message (PPID 53, or 57 when empty).
    SendResult send_binary(std::span<const std::byte> data);
    SendResult send_binary(std::string_view data);

    /// Bytes handed to send() that SCTP has not sent yet.
    std::size_t buffered_amount() const;
    std::size_t buffered_amount_low_threshold() const;
    void set_buffered_amount_low_threshold(std::size_t bytes);

    void on_open(std::function<void()> fn);
    void on_message(MessageHandler fn);
    void on_close(std::function<void()> fn);
    void on_error(std::function<void(const Status&)> fn);
    void on_buffered_amount_low(std::function<void()> fn);

    /// Closes the channel (an SCTP stream reset, RFC 8831 §6.7). Safe inside callbacks.
    void close();

    explicit operator bool() const noexcept { return state_ != nullptr; }
    friend bool operator==(const DataChannel& a, const DataChannel& b) noexcept { return a.state_ == b.state_; }

    explicit DataChannel(std::shared_ptr<detail::ChannelState> s) noexcept : state_(std::move(s)) {}

private:
    std::shared_ptr<detail::ChannelState> state_;
};

}  // namespace duplex
