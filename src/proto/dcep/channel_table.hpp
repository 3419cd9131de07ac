// proto/dcep/channel_table.hpp: the data channels of one SCTP association,
// by stream id, with the rules of RFC 8832 §6 and the W3C's
// RTCDataChannelInit. A data structure plus rules: it makes no SCTP calls and
// sends nothing; its operations return the DCEP bytes that the caller sends
// (on the channel's stream, PPID 50, ordered and reliable — §6) and tell the
// caller when to reset a stream.
//
// The life of a channel:
//
//   add_local() ─▶ Connecting, OPEN not sent ── take_open() ─▶ Connecting, OPEN sent
//   open() (both at once) ──────────────────────────────────▶ Connecting, OPEN sent
//   Connecting, OPEN sent ── on_ack_received / on_user_message ──▶ Open
//   on_open_received() ────────────────────────────────────────────────────────▶ Open
//   reserve() (negotiated, no DCEP) ───────────────────────────────────────────▶ Open
//   Connecting/Open ── close(): the caller resets its outgoing stream ──▶ Closing
//   any ── release(): both directions of the stream are reset ──▶ gone, id free again
//
// add_local() and take_open() are apart because a channel gets its id as soon
// as the DTLS role is known (W3C webrtc-pc §6.1, createDataChannel), which is
// before the SCTP association is up to carry its OPEN; open() serves a caller
// whose association is up already.
//
// Stream ids (RFC 8832 §6): the side that is the DTLS client opens channels on
// even ids, the DTLS server on odd ones, so both sides can open at once
// without colliding; an OPEN that arrives on an id of our own parity, or on an
// id in use, is refused (the caller resets that stream and sends no ACK).
// Negotiated (out-of-band) channels may use any free id.
#pragma once

#include "base/result.hpp"
#include "proto/dcep/message.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace duplex::proto::dcep {

/// RTCDataChannelInit's reliability: ordered, and at most one of the limits.
struct Reliability {
    bool ordered = true;
    std::optional<std::uint16_t> max_retransmits;
    std::optional<std::uint32_t> max_packet_life_time;  ///< milliseconds
    friend bool operator==(const Reliability&, const Reliability&) = default;
};

/// The DCEP channel type and reliability parameter for `r`. Both limits set
/// is Errc::invalid_argument (the TypeError of W3C createDataChannel).
struct WireReliability {
    ChannelType channel_type = ChannelType::Reliable;
    std::uint32_t reliability_parameter = 0;
    friend bool operator==(const WireReliability&, const WireReliability&) = default;
};
base::Result<WireReliability> to_wire(const Reliability& r);
/// The reliability an OPEN asks for. The parameter of a reliable type is
/// ignored (§5.1); a retransmission count over 65535 is clamped to 65535
/// (max_retransmits is an unsigned short in the W3C API).
Reliability from_wire(ChannelType type, std::uint32_t reliability_parameter) noexcept;

enum class ChannelState { Connecting, Open, Closing, Closed };
const char* to_string(ChannelState s) noexcept;

/// What createDataChannel() is given (the stream id is chosen separately).
struct ChannelInit {
    std::string label;
    std::string protocol;
    Reliability reliability;
    std::uint16_t priority = kPriorityNormal;
};

struct Channel {
    std::uint16_t stream_id = 0;
    ChannelState state = ChannelState::Connecting;
    std::string label;
    std::string protocol;
    Reliability reliability;
    std::uint16_t priority = kPriorityNormal;
    bool negotiated = false;  ///< out of band: no DCEP on this stream
    bool local = false;       ///< ours: added with add_local()/open(), or reserved
    /// Our DATA_CHANNEL_OPEN went out (take_open()); only then can an ACK or
    /// the peer's data on the stream answer it.
    bool open_sent = false;
    /// §6: until the peer's ACK or any other message arrives on the stream,
    /// our messages MUST go ordered, whatever the channel's own setting.
    bool heard_from_peer = false;

    /// Send this channel's next message ordered?
    bool send_ordered() const noexcept { return reliability.ordered || !heard_from_peer; }
};

class ChannelTable {
public:
    struct Options {
        /// Stream ids are 0 .. max_streams-1: the streams the association has
        /// in both directions (browsers negotiate 1024; at most 65535, since
        /// id 65535 is reserved in the W3C API).
        std::uint16_t max_streams = 1024;
    };

    ChannelTable() : ChannelTable(Options{}) {}
    explicit ChannelTable(Options options);

    /// Our DTLS role, once known. on_open_received() then refuses OPENs on
    /// ids of our own parity (before it is set, it checks only that the id is free).
    void set_dtls_role(bool dtls_is_client) noexcept { dtls_is_client_ = dtls_is_client; }
    std::optional<bool> dtls_role() const noexcept { return dtls_is_client_; }

    /// The lowest free id of our parity (even for the DTLS client, odd for the
    /// server), or DcepError::streams_exhausted. Does not take it.
    base::Result<std::uint16_t> allocate_stream_id(bool dtls_is_client) const;

    /// Registers a negotiated (out-of-band) channel on `id`: Open at once, no
    /// DCEP. Fails when the id is taken, out of range, or the reliability is
    /// invalid.
    base::Status reserve(std::uint16_t id, const ChannelInit& init);

    /// Registers a channel of ours, to be opened in-band, on the free id
    /// `id`: Connecting, its OPEN not sent yet (take_open() gives it). Fails
    /// when the id is taken or out of range, the reliability is invalid, or
    /// the label or protocol is too long for an OPEN (§5.1).
    base::Status add_local(std::uint16_t id, const ChannelInit& init);

    /// The DATA_CHANNEL_OPEN of a channel registered with add_local(), to send
    /// on its stream now; from here an ACK is awaited. Once per channel:
    /// DcepError::no_open_to_send for a channel that is not ours, is
    /// negotiated, or has sent its OPEN already.
    base::Result<std::vector<std::byte>> take_open(std::uint16_t stream);

    struct LocalOpen {
        std::uint16_t stream_id = 0;
        std::vector<std::byte> message;  ///< the DATA_CHANNEL_OPEN
    };
    /// allocate_stream_id() + add_local() + take_open().
    base::Result<LocalOpen> open(const ChannelInit& init, bool dtls_is_client);

    /// A DATA_CHANNEL_OPEN arrived on `stream`: registers the channel (Open)
    /// and returns the DATA_CHANNEL_ACK to send back on it. On an error (id in
    /// use, out of range, of our parity) nothing is registered or changed: per
    /// §6 the caller sends no ACK and resets the stream (when it was in use,
    /// the channel already there is the caller's to close).
    base::Result<std::vector<std::byte>> on_open_received(std::uint16_t stream, const DataChannelOpen& open);

    /// A DATA_CHANNEL_ACK arrived: Connecting → Open (a Closing channel stays
    /// Closing). DcepError::unexpected_ack when the channel did not send an
    /// OPEN or has heard from the peer already.
    base::Status on_ack_received(std::uint16_t stream);

    /// A user message (any PPID but 50) arrived on `stream`. For a channel we
    /// opened it stands for the ACK (§6): Connecting → Open. Returns the
    /// channel, or null (drop the message) when no channel has that stream or
    /// the channel's OPEN has not been sent (the peer cannot know of it).
    const Channel* on_user_message(std::uint16_t stream);

    /// Starts closing: Connecting/Open → Closing; the caller resets the
    /// outgoing stream (RFC 8831 §6.7). Also what to call when the peer reset
    /// its outgoing stream first. Closing again is fine.
    base::Status close(std::uint16_t stream);

    /// Both directions of the stream are reset: the channel is gone and its
    /// id free for reuse.
    base::Status release(std::uint16_t stream);

    const Channel* find(std::uint16_t stream) const noexcept;
    std::size_t size() const noexcept { return channels_.size(); }
    std::vector<std::uint16_t> stream_ids() const;
    std::uint16_t max_streams() const noexcept { return options_.max_streams; }

private:
    base::Status check_free(std::uint16_t id) const;

    Options options_;
    std::optional<bool> dtls_is_client_;
    std::map<std::uint16_t, Channel> channels_;
};

}  // namespace duplex::proto::dcep
