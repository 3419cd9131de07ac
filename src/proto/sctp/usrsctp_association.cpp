// proto/sctp/usrsctp_association.cpp: Association over usrsctp (no-threads
// mode, AF_CONN). See the header for the process-wide rules; this file keeps
// the one registry of live associations that usrsctp's callbacks need.
#include "proto/sctp/usrsctp_association.hpp"

#include "proto/sctp/crc32c.hpp"

#include "base/log.hpp"
#include "proto/sctp/error.hpp"

#include <usrsctp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace duplex::proto::sctp {

const char* to_string(State s) noexcept {
    switch (s) {
        case State::New: return "new";
        case State::Connecting: return "connecting";
        case State::Connected: return "connected";
        case State::Closing: return "closing";
        case State::Closed: return "closed";
        case State::Failed: return "failed";
    }
    return "?";
}

namespace {

class UsrsctpAssociation;

/// The period at which usrsctp's timer wheel wants to be driven. usrsctp has
/// no "next expiry" query; its own timer thread ticks every 10 ms too.
constexpr base::Duration kTimerTick = std::chrono::milliseconds(10);
/// One usrsctp_recvv() reads at most this much; longer messages arrive in
/// pieces without MSG_EOR and are reassembled here (up to max_message_size).
constexpr std::size_t kReadChunk = 64 * 1024;
/// Notifications are small (a stream reset lists at most 65535 streams).
constexpr std::size_t kMaxNotification = 256 * 1024;
/// Round-trip-time bounds for the retransmission timer (RFC 9260 §6.3.1,
/// §16 RTO.Initial 1 s, RTO.Max 60 s). RTO.Min is lowered from RFC 9260's
/// 1 s to 200 ms, as browsers' stacks do, so that a lost packet on a
/// low-latency path stalls a data channel for less than a second.
constexpr std::uint32_t kRtoInitialMs = 1000;
constexpr std::uint32_t kRtoMinMs = 200;
constexpr std::uint32_t kRtoMaxMs = 10000;

/// The process-wide usrsctp state: every field is used on the one thread
/// that runs all associations (DESIGN.md: until our own SCTP replaces
/// usrsctp, all peer connections of a process run on one loop thread).
struct Global {
    std::vector<UsrsctpAssociation*> live;
    bool initialised = false;
    std::optional<base::Instant> last_drive;
    std::uintptr_t next_token = 1;
};

Global& global() {
    // Never destroyed: an association owned by another static object may be
    // destroyed after this one would be, and usrsctp calls conn_output from
    // inside usrsctp_close (found by fuzz/rtc_peer_fuzz at exit).
    static Global* g = new Global;
    return *g;
}

/// The PPID travels through usrsctp's socket API in network byte order
/// (RFC 6458 §5.3.2: sinfo_ppid is opaque to the stack).
std::uint32_t ppid_to_wire(std::uint32_t host) {
    std::byte b[4];
    base::store_be32(b, host);
    std::uint32_t v;
    std::memcpy(&v, b, 4);
    return v;
}
std::uint32_t ppid_from_wire(std::uint32_t wire) {
    std::byte b[4];
    std::memcpy(b, &wire, 4);
    return base::load_be32(b);
}
std::uint16_t port_to_wire(std::uint16_t host) {
    std::byte b[2];
    base::store_be16(b, host);
    std::uint16_t v;
    std::memcpy(&v, b, 2);
    return v;
}

int conn_output(void* addr, void* buffer, std::size_t length, std::uint8_t tos, std::uint8_t set_df);

class UsrsctpAssociation final : public Association {
public:
    explicit UsrsctpAssociation(const AssociationConfig& config);
    ~UsrsctpAssociation() override;
    UsrsctpAssociation(const UsrsctpAssociation&) = delete;
    UsrsctpAssociation& operator=(const UsrsctpAssociation&) = delete;

    void connect(base::Instant now) override;
    void handle_packet(base::Bytes sctp_packet, base::Instant now) override;
    std::optional<std::vector<std::byte>> poll_transmit() override;
    std::optional<AssociationEvent> poll_event() override;
    base::Status send(std::uint16_t stream, std::uint32_t ppid, base::Bytes data,
                      const Reliability& reliability) override;
    std::size_t buffered_amount(std::uint16_t stream) const override {
        return stream < buffered_.size() ? buffered_[stream] : 0;
    }
    std::size_t buffered_amount_total() const override { return tx_queued_bytes_; }
    void set_buffered_amount_low_threshold(std::uint16_t stream, std::size_t bytes) override {
        if (stream < low_threshold_.size()) low_threshold_[stream] = bytes;
    }
    void reset_stream(std::uint16_t stream) override;
    std::optional<base::Instant> poll_timeout() const override;
    void handle_timeout(base::Instant now) override;
    void close() override;
    void abort() override;
    State state() const override { return state_; }

    void* token() const noexcept { return token_; }
    /// conn_output: one packet from usrsctp for this association.
    void on_output(const void* buffer, std::size_t length);
    /// After any call into usrsctp: read what arrived, push what waits.
    void after_stack_call();

private:
    struct Pending {
        std::uint16_t stream;
        std::uint32_t ppid;
        Reliability reliability;
        std::vector<std::byte> data;
    };
    // Per-stream flags of outgoing stream resets (RFC 6525 §5.1.2).
    enum ResetFlag : std::uint8_t { kResetWanted = 1, kResetInFlight = 2 };

    bool configure_socket();
    void drain_socket();
    void handle_data(const std::byte* data, std::size_t n, const sctp_rcvinfo* info, bool has_info, bool eor);
    void handle_notification(const std::byte* p, std::size_t n);
    void handle_assoc_change(const std::byte* p, std::size_t n);
    void handle_stream_reset(const std::byte* p, std::size_t n);
    void flush_tx_queue();
    void flush_resets();
    ssize_t sendv(std::uint16_t stream, std::uint32_t ppid, const Reliability& reliability, base::Bytes data);
    void maybe_shutdown();
    void take_from_buffered(std::uint16_t stream, std::size_t n);
    void drop_tx_queue();
    void close_socket(bool abortive);
    void fail(SctpError error, std::string reason);
    void end_closed(std::string reason);

    AssociationConfig config_;
    void* token_ = nullptr;
    struct socket* sock_ = nullptr;
    State state_ = State::New;
    std::uint16_t outbound_streams_ = 0;  // granted by the peer (sac_outbound_streams)

    std::deque<std::vector<std::byte>> tx_packets_;
    std::deque<AssociationEvent> events_;

    std::deque<Pending> tx_queue_;  // accepted by send(), not yet in usrsctp
    std::size_t tx_queued_bytes_ = 0;
    std::vector<std::size_t> buffered_;
    std::vector<std::size_t> low_threshold_;
    std::vector<std::uint8_t> reset_flags_;
    bool resets_in_flight_ = false;
    bool resets_wanted_ = false;  // some stream is kResetWanted (saves a scan of every stream per call)
    bool shutdown_wanted_ = false;
    bool shutdown_sent_ = false;

    bool rx_active_ = false;  // a message is being reassembled from partial reads
    std::uint16_t rx_stream_ = 0;
    std::uint32_t rx_ppid_ = 0;
    std::vector<std::byte> rx_message_;
    std::vector<std::byte> rx_notification_;
    std::vector<std::byte> read_buffer_;
};

/// Drives usrsctp's one timer wheel up to `now` and drains every association
/// (their timers may have fired). Time that went backwards (another test's
/// clock, another loop) restarts the count without firing anything.
void drive_timers(base::Instant now) {
    Global& g = global();
    if (!g.last_drive || now < *g.last_drive) {
        g.last_drive = now;
    } else {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - *g.last_drive).count();
        if (ms > 0) {
            const auto step = static_cast<std::uint32_t>(
                std::min<long long>(ms, std::numeric_limits<std::uint32_t>::max() / 2));
            *g.last_drive += std::chrono::milliseconds(step);  // keep the sub-millisecond remainder
            usrsctp_handle_timers(step);
        }
    }
    // Index loop: after_stack_call() never adds or removes associations.
    for (std::size_t i = 0; i < g.live.size(); ++i) g.live[i]->after_stack_call();
}

int conn_output(void* addr, void* buffer, std::size_t length, std::uint8_t /*tos*/, std::uint8_t /*set_df*/) {
    // `addr` is the token registered for one association. A packet for an
    // association already destroyed (usrsctp may still finish an abort) is
    // dropped: tokens are never reused, so it cannot reach a newer one.
    for (UsrsctpAssociation* a : global().live) {
        if (a->token() == addr) {
            a->on_output(buffer, length);
            break;
        }
    }
    return 0;
}

void acquire_library() {
    Global& g = global();
    if (g.initialised) return;
    // Port 0: no UDP encapsulation socket. No threads: we drive the timers.
    usrsctp_init_nothreads(0, &conn_output, nullptr);
    // Global knobs (usrsctp has no per-socket setting for these):
    // a DATA chunk queue deep enough for a 1 MiB send buffer of ~1.1 KiB
    // chunks (default 512), and no ECN, which has no meaning over DTLS.
    usrsctp_sysctl_set_sctp_max_chunks_on_queue(10 * 1024);
    usrsctp_sysctl_set_sctp_ecn_enable(0);
    // The CRC32c of every packet is ours to compute and check (crc32c.hpp:
    // hardware instruction), not the library's byte-at-a-time loop. With
    // "offload" on, usrsctp leaves the field zero on output and skips the
    // check on input; on_output() and handle_packet() do both.
    usrsctp_enable_crc32c_offload();
    g.initialised = true;
}

}  // namespace

bool usrsctp_release_library() {
    Global& g = global();
    if (!g.live.empty()) return false;
    if (!g.initialised) return true;
    // usrsctp_finish() refuses while an endpoint is still being torn down
    // (its docs: call it until it returns 0). Sockets were closed abortively,
    // so a few timer ticks free what is left.
    for (int i = 0; i < 100; ++i) {
        if (usrsctp_finish() == 0) {
            g.initialised = false;
            g.last_drive.reset();
            return true;
        }
        usrsctp_handle_timers(10);
    }
    DUPLEX_LOG(Warn, "sctp: usrsctp_finish() kept failing; usrsctp stays initialised");
    return false;
}

namespace {

UsrsctpAssociation::UsrsctpAssociation(const AssociationConfig& config)
    : config_(config),
      buffered_(config.streams, 0),
      low_threshold_(config.streams, 0),
      reset_flags_(config.streams, 0),
      read_buffer_(kReadChunk) {
    acquire_library();
    Global& g = global();
    token_ = reinterpret_cast<void*>(g.next_token++);
    g.live.push_back(this);
    usrsctp_register_address(token_);

    sock_ = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, nullptr, nullptr, 0, nullptr);
    if (sock_ == nullptr || !configure_socket()) {
        const int err = errno;
        close_socket(true);
        fail(SctpError::stack_failure, "usrsctp socket setup failed (errno " + std::to_string(err) + ")");
    }
}

UsrsctpAssociation::~UsrsctpAssociation() {
    close_socket(true);
    Global& g = global();
    usrsctp_deregister_address(token_);
    g.live.erase(std::remove(g.live.begin(), g.live.end(), this), g.live.end());
    // usrsctp stays initialised (see usrsctp_release_library()); only the
    // shared clock restarts, so the next association's time base is its own.
    if (g.live.empty()) g.last_drive.reset();
}

bool UsrsctpAssociation::configure_socket() {
    auto set = [this](int level, int name, const void* value, std::size_t len) {
        if (usrsctp_setsockopt(sock_, level, name, value, static_cast<socklen_t>(len)) == 0) return true;
        DUPLEX_LOG(Warn, "sctp: setsockopt(" << level << ", " << name << ") failed: errno " << errno);
        return false;
    };
    if (usrsctp_set_non_blocking(sock_, 1) != 0) return false;

    // Socket buffers. The whole of a message must fit in the send buffer
    // (usrsctp without explicit EOR), so it holds two of the largest.
    const std::size_t snd = std::max(config_.stack_send_buffer, 2 * config_.remote_max_message_size);
    const int sndbuf = static_cast<int>(std::min<std::size_t>(snd, std::numeric_limits<int>::max() / 2));
    const int rcvbuf =
        static_cast<int>(std::min<std::size_t>(config_.stack_receive_buffer, std::numeric_limits<int>::max() / 2));
    if (!set(SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf)) return false;
    if (!set(SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf)) return false;

    // RFC 8831 §6.2: streams are reset to close channels (RFC 6525).
    sctp_assoc_value reset{};
    reset.assoc_id = SCTP_FUTURE_ASSOC;
    reset.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ;
    if (!set(IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &reset, sizeof reset)) return false;

    // RFC 8831 §6.6 wants messages sent without Nagle-like delay.
    const int on = 1;
    if (!set(IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof on)) return false;
    // Receive the stream and PPID of every message (RFC 6458 §8.1.29).
    if (!set(IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof on)) return false;

    // RFC 8831 §6.2: as many streams as the peer may use for channels.
    sctp_initmsg init{};
    init.sinit_num_ostreams = config_.streams;
    init.sinit_max_instreams = config_.streams;
    if (!set(IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof init)) return false;

    sctp_rtoinfo rto{};
    rto.srto_assoc_id = SCTP_FUTURE_ASSOC;
    rto.srto_initial = kRtoInitialMs;
    rto.srto_min = kRtoMinMs;
    rto.srto_max = kRtoMaxMs;
    if (!set(IPPROTO_SCTP, SCTP_RTOINFO, &rto, sizeof rto)) return false;

    // RFC 8261 §5: the path MTU is what fits in one DTLS record; no PMTU
    // discovery below DTLS (the DTLS layer owns the datagram size).
    sctp_paddrparams params{};
    params.spp_assoc_id = SCTP_FUTURE_ASSOC;
    params.spp_flags = SPP_PMTUD_DISABLE;
    // usrsctp adds the 12-byte common header to the value given here
    // (sctp_pcb.c, AF_CONN): what we pass is the room for chunks.
    const std::size_t mtu = std::max<std::size_t>(config_.mtu, 512);
    params.spp_pathmtu = static_cast<std::uint32_t>(mtu - sizeof(sctp_common_header));
    if (!set(IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &params, sizeof params)) return false;

    const std::uint16_t events[] = {SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT, SCTP_SENDER_DRY_EVENT,
                                    SCTP_PARTIAL_DELIVERY_EVENT, SCTP_SHUTDOWN_EVENT};
    for (std::uint16_t type : events) {
        sctp_event ev{};
        ev.se_assoc_id = SCTP_FUTURE_ASSOC;
        ev.se_type = type;
        ev.se_on = 1;
        if (!set(IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof ev)) return false;
    }

    sockaddr_conn local{};
    local.sconn_family = AF_CONN;
    local.sconn_port = port_to_wire(config_.local_port);
    local.sconn_addr = token_;
    if (usrsctp_bind(sock_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return false;
    return true;
}

void UsrsctpAssociation::connect(base::Instant now) {
    if (state_ != State::New || sock_ == nullptr) return;
    drive_timers(now);  // starts the shared clock if this is the first association
    sockaddr_conn remote{};
    remote.sconn_family = AF_CONN;
    remote.sconn_port = port_to_wire(config_.remote_port);
    remote.sconn_addr = token_;
    state_ = State::Connecting;
    // Non-blocking: EINPROGRESS is the normal answer; COMM_UP arrives later.
    if (usrsctp_connect(sock_, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0 && errno != EINPROGRESS) {
        const int err = errno;
        close_socket(true);
        fail(SctpError::stack_failure, "usrsctp_connect failed (errno " + std::to_string(err) + ")");
        return;
    }
    after_stack_call();
}

void UsrsctpAssociation::handle_packet(base::Bytes sctp_packet, base::Instant now) {
    if (sock_ == nullptr || sctp_packet.empty()) return;
    // A packet before connect(): the peer's INIT overtook our own start (its
    // DTLS finished first). Our socket is not listening, so usrsctp would
    // answer with ABORT; RFC 8831 §6.2 has both sides initiate, so start now.
    if (state_ == State::New) connect(now);
    if (sock_ == nullptr) return;
    // RFC 9260 §6.8: a packet whose CRC32c is wrong is dropped silently. We
    // check it (usrsctp's check is off, see acquire_library); usrsctp checks
    // the ports and the verification tag (§8.5).
    if (!sctp_checksum_ok(sctp_packet)) return;
    usrsctp_conninput(token_, sctp_packet.data(), sctp_packet.size(), 0);
    after_stack_call();
}

std::optional<std::vector<std::byte>> UsrsctpAssociation::poll_transmit() {
    if (tx_packets_.empty()) return std::nullopt;
    auto p = std::move(tx_packets_.front());
    tx_packets_.pop_front();
    return p;
}

std::optional<AssociationEvent> UsrsctpAssociation::poll_event() {
    if (events_.empty()) return std::nullopt;
    auto e = std::move(events_.front());
    events_.pop_front();
    return e;
}

base::Status UsrsctpAssociation::send(std::uint16_t stream, std::uint32_t ppid, base::Bytes data,
                                      const Reliability& reliability) {
    if (state_ != State::Connected || shutdown_wanted_) return Errc::invalid_state;
    if (stream >= outbound_streams_ || stream >= buffered_.size()) return Errc::invalid_argument;
    if (reset_flags_[stream] != 0) return Errc::invalid_state;  // being reset (channel closing)
    // SCTP cannot carry an empty user message (RFC 9260 §3.3.1: a DATA chunk
    // has at least one byte); RFC 8831 §6.6 sends a single byte instead.
    if (data.empty()) return Errc::invalid_argument;
    if (reliability.max_retransmits && reliability.max_packet_life_time_ms) return Errc::invalid_argument;
    // RFC 8841 §6.1: never more than the peer's max-message-size.
    if (data.size() > config_.remote_max_message_size) return Errc::message_too_big;
    if (tx_queued_bytes_ + data.size() > config_.send_buffer && tx_queued_bytes_ != 0)
        return Errc::backpressure_limit;
    // Straight into the stack when nothing waits before it (one copy fewer);
    // queued when the stack's buffer is full.
    if (tx_queue_.empty() && sock_ != nullptr) {
        const ssize_t r = sendv(stream, ppid, reliability, data);
        if (r >= 0) return {};  // whole (as the queued path assumes too)
        if (errno != EWOULDBLOCK && errno != EAGAIN) {
            DUPLEX_LOG(Warn, "sctp: message of " << data.size() << " bytes on stream " << stream << " refused: errno "
                                                 << errno);
            return Errc::invalid_state;
        }
    }
    tx_queue_.push_back(Pending{stream, ppid, reliability, std::vector<std::byte>(data.begin(), data.end())});
    tx_queued_bytes_ += data.size();
    buffered_[stream] += data.size();
    flush_tx_queue();
    return {};
}

void UsrsctpAssociation::reset_stream(std::uint16_t stream) {
    if (sock_ == nullptr || stream >= reset_flags_.size()) return;
    if (state_ != State::Connected && state_ != State::Closing) return;
    if (reset_flags_[stream] != 0) return;
    reset_flags_[stream] = kResetWanted;
    resets_wanted_ = true;
    flush_resets();
}

std::optional<base::Instant> UsrsctpAssociation::poll_timeout() const {
    if (sock_ == nullptr || state_ == State::New) return std::nullopt;
    const auto& last = global().last_drive;
    if (!last) return std::nullopt;
    return *last + kTimerTick;
}

void UsrsctpAssociation::handle_timeout(base::Instant now) { drive_timers(now); }

void UsrsctpAssociation::close() {
    switch (state_) {
        case State::New:
            close_socket(true);
            end_closed("closed before connecting");
            return;
        case State::Connecting:
            // No association to shut down yet: an INIT in flight is aborted.
            close_socket(true);
            drop_tx_queue();
            end_closed("closed while connecting");
            return;
        case State::Connected:
            state_ = State::Closing;
            shutdown_wanted_ = true;
            maybe_shutdown();
            after_stack_call();
            return;
        case State::Closing:
        case State::Closed:
        case State::Failed: return;
    }
}

void UsrsctpAssociation::abort() {
    if (state_ == State::Closed || state_ == State::Failed) return;
    close_socket(true);  // RFC 9260 §9.1: ABORT, queued data discarded
    drop_tx_queue();
    end_closed("aborted locally");
}

void UsrsctpAssociation::on_output(const void* buffer, std::size_t length) {
    if (tx_packets_.size() >= config_.max_queued_packets) return;  // SCTP retransmits it
    const auto* p = static_cast<const std::byte*>(buffer);
    auto& packet = tx_packets_.emplace_back(p, p + length);
    set_sctp_checksum(packet);  // RFC 9260 §6.8 (usrsctp's "offload", see acquire_library)
}

void UsrsctpAssociation::after_stack_call() {
    if (sock_ == nullptr) return;
    drain_socket();
    if (sock_ == nullptr) return;
    flush_tx_queue();
    flush_resets();
    maybe_shutdown();
}

void UsrsctpAssociation::drain_socket() {
    while (sock_ != nullptr) {
        sctp_rcvinfo info{};
        socklen_t infolen = sizeof info;
        unsigned int infotype = 0;
        int flags = 0;
        sockaddr_conn from{};
        socklen_t fromlen = sizeof from;
        const ssize_t n = usrsctp_recvv(sock_, read_buffer_.data(), read_buffer_.size(),
                                        reinterpret_cast<sockaddr*>(&from), &fromlen, &info, &infolen, &infotype,
                                        &flags);
        if (n < 0) return;  // EWOULDBLOCK: nothing more; other errors: the association is gone
        if (n == 0) return;  // end of stream after SHUTDOWN; the ASSOC_CHANGE says how
        const auto len = static_cast<std::size_t>(n);
        const bool eor = (flags & MSG_EOR) != 0;
        if ((flags & MSG_NOTIFICATION) != 0) {
            if (rx_notification_.size() + len > kMaxNotification) {
                rx_notification_.clear();  // cannot happen with usrsctp's notifications; bounded anyway
                continue;
            }
            rx_notification_.insert(rx_notification_.end(), read_buffer_.begin(),
                                    read_buffer_.begin() + static_cast<std::ptrdiff_t>(len));
            if (eor) {
                std::vector<std::byte> note;
                note.swap(rx_notification_);
                handle_notification(note.data(), note.size());
            }
        } else {
            const bool has_info = infotype == SCTP_RECVV_RCVINFO && infolen >= sizeof info;
            handle_data(read_buffer_.data(), len, &info, has_info, eor);
        }
    }
}

void UsrsctpAssociation::handle_data(const std::byte* data, std::size_t n, const sctp_rcvinfo* info,
                                     bool has_info, bool eor) {
    if (!has_info) {
        fail(SctpError::protocol_violation, "received data without stream information");
        return;
    }
    if (!rx_active_) {
        rx_active_ = true;
        rx_stream_ = info->rcv_sid;
        rx_ppid_ = ppid_from_wire(info->rcv_ppid);
        rx_message_.clear();
    } else if (info->rcv_sid != rx_stream_) {
        // Partial delivery hands out one message at a time (no I-DATA
        // interleaving is negotiated, RFC 8260); a switch is a stack bug.
        fail(SctpError::protocol_violation, "partial message interleaved with another stream");
        return;
    }
    // RFC 8841 §6: the peer was told our max-message-size; a bigger message
    // is a violation, and we stop it before it grows our memory further.
    if (rx_message_.size() + n > config_.max_message_size) {
        fail(SctpError::message_too_big, "inbound message over max-message-size " +
                                             std::to_string(config_.max_message_size) + " on stream " +
                                             std::to_string(rx_stream_));
        return;
    }
    rx_message_.insert(rx_message_.end(), data, data + n);
    if (!eor) return;
    rx_active_ = false;
    Message m;
    m.stream = rx_stream_;
    m.ppid = rx_ppid_;
    m.data.swap(rx_message_);
    events_.push_back(event::MessageReceived{std::move(m)});
}

void UsrsctpAssociation::handle_notification(const std::byte* p, std::size_t n) {
    sctp_notification::sctp_tlv header{};
    if (n < sizeof header) return;
    std::memcpy(&header, p, sizeof header);
    switch (header.sn_type) {
        case SCTP_ASSOC_CHANGE: handle_assoc_change(p, n); break;
        case SCTP_STREAM_RESET_EVENT: handle_stream_reset(p, n); break;
        case SCTP_SENDER_DRY_EVENT: break;  // after_stack_call() pushes the queue anyway
        case SCTP_SHUTDOWN_EVENT:
            // RFC 9260 §9.2: the peer sent SHUTDOWN; no new data may be sent.
            if (state_ == State::Connected) state_ = State::Closing;
            break;
        case SCTP_PARTIAL_DELIVERY_EVENT: {
            sctp_pdapi_event pd{};
            if (n < sizeof pd) break;
            std::memcpy(&pd, p, sizeof pd);
            if (pd.pdapi_indication == SCTP_PARTIAL_DELIVERY_ABORTED) {
                rx_active_ = false;  // the rest of that message will not come
                rx_message_.clear();
            }
            break;
        }
        default: break;
    }
}

void UsrsctpAssociation::handle_assoc_change(const std::byte* p, std::size_t n) {
    sctp_assoc_change ac{};
    if (n < sizeof ac) return;
    std::memcpy(&ac, p, sizeof ac);
    switch (ac.sac_state) {
        case SCTP_COMM_UP:
        case SCTP_RESTART:
            outbound_streams_ = std::min<std::uint16_t>(ac.sac_outbound_streams, config_.streams);
            if (state_ == State::Connecting) {
                state_ = State::Connected;
                events_.push_back(event::Connected{});
            }
            break;
        case SCTP_COMM_LOST:
            // usrsctp appends the peer's ABORT chunk when the peer aborted; a
            // loss by excess retransmissions (RFC 9260 §8.1) carries none.
            if (ac.sac_length > sizeof ac) {
                close_socket(true);
                drop_tx_queue();
                end_closed("aborted by the peer");
            } else {
                fail(SctpError::association_lost, "association lost: peer unreachable");
            }
            break;
        case SCTP_CANT_STR_ASSOC:
            fail(SctpError::cannot_start, "association could not be started");
            break;
        case SCTP_SHUTDOWN_COMP:
            close_socket(false);
            drop_tx_queue();
            end_closed("shutdown complete");
            break;
        default: break;
    }
}

void UsrsctpAssociation::handle_stream_reset(const std::byte* p, std::size_t n) {
    sctp_stream_reset_event ev{};
    if (n < sizeof ev) return;
    std::memcpy(&ev, p, sizeof ev);
    const std::size_t len = std::min<std::size_t>(ev.strreset_length, n);
    const std::size_t count = len > sizeof ev ? (len - sizeof ev) / 2 : 0;
    std::vector<std::uint16_t> streams(count);
    if (count != 0) std::memcpy(streams.data(), p + sizeof ev, count * 2);

    if ((ev.strreset_flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED)) != 0) {
        // Our request was refused or failed (RFC 6525 §4.4 results 2, 5, 6):
        // it is not retried (a refusing peer would refuse again), the streams
        // stay closed for sending; the owner sees no OutgoingStreamReset.
        if ((ev.strreset_flags & SCTP_STREAM_RESET_OUTGOING_SSN) != 0) resets_in_flight_ = false;
        DUPLEX_LOG(Warn, "sctp: stream reset " << ((ev.strreset_flags & SCTP_STREAM_RESET_DENIED) ? "denied" : "failed")
                                               << " for " << count << " stream(s)");
        return;
    }
    if ((ev.strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN) != 0) {
        // RFC 6525 §5.2.2: the peer reset its outgoing streams; our incoming
        // side of each restarts at SSN 0. RFC 8831 §6.7: the channel closes.
        for (std::uint16_t s : streams) events_.push_back(event::StreamReset{s});
    }
    if ((ev.strreset_flags & SCTP_STREAM_RESET_OUTGOING_SSN) != 0) {
        resets_in_flight_ = false;
        for (std::uint16_t s : streams) {
            if (s < reset_flags_.size() && (reset_flags_[s] & kResetInFlight) != 0) {
                reset_flags_[s] = 0;  // the stream number may carry a new channel now
                events_.push_back(event::OutgoingStreamReset{s});
            }
        }
    }
}

ssize_t UsrsctpAssociation::sendv(std::uint16_t stream, std::uint32_t ppid, const Reliability& reliability,
                                  base::Bytes data) {
    sctp_sendv_spa spa{};
    spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
    spa.sendv_sndinfo.snd_sid = stream;
    spa.sendv_sndinfo.snd_ppid = ppid_to_wire(ppid);
    // RFC 8831 §6.6: unordered channels use the U bit (RFC 9260 §3.3.1).
    spa.sendv_sndinfo.snd_flags = reliability.ordered ? 0 : SCTP_UNORDERED;
    if (reliability.max_retransmits) {
        // RFC 7496 §4: abandon after this many retransmissions.
        spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
        spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_RTX;
        spa.sendv_prinfo.pr_value = *reliability.max_retransmits;
    } else if (reliability.max_packet_life_time_ms) {
        // RFC 3758 §3.1 timed reliability: abandon after this lifetime.
        spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
        spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_TTL;
        spa.sendv_prinfo.pr_value = *reliability.max_packet_life_time_ms;
    }
    return usrsctp_sendv(sock_, data.data(), data.size(), nullptr, 0, &spa, static_cast<socklen_t>(sizeof spa),
                         SCTP_SENDV_SPA, 0);
}

void UsrsctpAssociation::flush_tx_queue() {
    while (sock_ != nullptr && !tx_queue_.empty() && (state_ == State::Connected || state_ == State::Closing)) {
        Pending& m = tx_queue_.front();
        const ssize_t r = sendv(m.stream, m.ppid, m.reliability, m.data);
        if (r < 0) {
            if (errno == EWOULDBLOCK || errno == EAGAIN) return;  // stack buffer full: wait for SACKs
            // The stack refused this message (the association is going away,
            // or the stream vanished): drop it, but not silently.
            DUPLEX_LOG(Warn, "sctp: message of " << m.data.size() << " bytes on stream " << m.stream
                                                 << " dropped: errno " << errno);
        }
        const std::uint16_t stream = m.stream;
        const std::size_t size = m.data.size();
        tx_queue_.pop_front();
        tx_queued_bytes_ -= size;
        take_from_buffered(stream, size);
    }
}

void UsrsctpAssociation::take_from_buffered(std::uint16_t stream, std::size_t n) {
    const std::size_t before = buffered_[stream];
    buffered_[stream] = before - n;
    if (before > low_threshold_[stream] && buffered_[stream] <= low_threshold_[stream])
        events_.push_back(event::BufferedAmountLow{stream});
}

void UsrsctpAssociation::flush_resets() {
    if (!resets_wanted_ || sock_ == nullptr || resets_in_flight_ || state_ != State::Connected) return;
    // RFC 8831 §6.7: reset only after the queued messages of the stream were
    // handed to SCTP (which itself sends the request after that data).
    std::vector<std::uint16_t> ready;
    bool waiting = false;
    for (std::size_t s = 0; s < reset_flags_.size(); ++s) {
        if (reset_flags_[s] != kResetWanted) continue;
        if (buffered_[s] == 0) ready.push_back(static_cast<std::uint16_t>(s));
        else waiting = true;
    }
    resets_wanted_ = waiting;
    if (ready.empty()) return;
    // struct sctp_reset_streams ends in a flexible array: build it in bytes.
    std::vector<std::byte> req(sizeof(sctp_reset_streams) + ready.size() * sizeof(std::uint16_t));
    sctp_reset_streams head{};
    head.srs_assoc_id = SCTP_ALL_ASSOC;
    head.srs_flags = SCTP_STREAM_RESET_OUTGOING;
    head.srs_number_streams = static_cast<std::uint16_t>(ready.size());
    std::memcpy(req.data(), &head, sizeof head);
    std::memcpy(req.data() + sizeof head, ready.data(), ready.size() * sizeof(std::uint16_t));
    if (usrsctp_setsockopt(sock_, IPPROTO_SCTP, SCTP_RESET_STREAMS, req.data(), static_cast<socklen_t>(req.size())) !=
        0) {
        // EBUSY/EALREADY: one request is outstanding (RFC 6525 §5.1.1 allows
        // one at a time); retried on the next drive.
        if (errno != EBUSY && errno != EALREADY && errno != EAGAIN)
            DUPLEX_LOG(Warn, "sctp: stream reset request failed: errno " << errno);
        resets_wanted_ = true;  // still wanted: the next drive asks again
        return;
    }
    resets_in_flight_ = true;
    for (std::uint16_t s : ready) reset_flags_[s] = kResetInFlight;
}

void UsrsctpAssociation::maybe_shutdown() {
    if (!shutdown_wanted_ || shutdown_sent_ || sock_ == nullptr || !tx_queue_.empty()) return;
    // RFC 9260 §9.2: SHUTDOWN goes out once all queued DATA is acknowledged;
    // SHUT_WR lets usrsctp wait for that itself.
    shutdown_sent_ = true;
    if (usrsctp_shutdown(sock_, SHUT_WR) != 0) {
        const int err = errno;
        close_socket(true);
        drop_tx_queue();
        end_closed("shutdown failed (errno " + std::to_string(err) + "), aborted");
    }
}

void UsrsctpAssociation::drop_tx_queue() {
    tx_queue_.clear();
    tx_queued_bytes_ = 0;
    std::fill(buffered_.begin(), buffered_.end(), 0);
}

void UsrsctpAssociation::close_socket(bool abortive) {
    if (sock_ == nullptr) return;
    if (abortive) {
        // SO_LINGER with a zero timeout makes close() send ABORT and free the
        // association at once (RFC 6458 §4.1.4), instead of lingering in
        // usrsctp's global state after we are gone.
        linger l{};
        l.l_onoff = 1;
        l.l_linger = 0;
        (void)usrsctp_setsockopt(sock_, SOL_SOCKET, SO_LINGER, &l, static_cast<socklen_t>(sizeof l));
    }
    struct socket* s = sock_;
    sock_ = nullptr;
    usrsctp_close(s);
}

void UsrsctpAssociation::fail(SctpError error, std::string reason) {
    if (state_ == State::Closed || state_ == State::Failed) return;
    close_socket(true);  // the peer learns of it by our ABORT
    drop_tx_queue();
    rx_active_ = false;
    rx_message_.clear();
    state_ = State::Failed;
    events_.push_back(event::Failed{make_error_code(error), std::move(reason)});
}

void UsrsctpAssociation::end_closed(std::string reason) {
    if (state_ == State::Closed || state_ == State::Failed) return;
    state_ = State::Closed;
    events_.push_back(event::Closed{std::move(reason)});
}

}  // namespace

std::unique_ptr<Association> make_usrsctp_association(const AssociationConfig& config) {
    return std::make_unique<UsrsctpAssociation>(config);
}

std::size_t usrsctp_live_associations() noexcept { return global().live.size(); }

bool usrsctp_initialised() noexcept { return global().initialised; }

}  // namespace duplex::proto::sctp
