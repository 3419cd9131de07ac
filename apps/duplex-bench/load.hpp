// duplex-bench: the load itself. Each worker thread runs one runtime::Loop
// with its share of the connections. A connection speaks just enough
// WebSocket to drive a server hard and cheaply: the opening handshake through
// the proto/http and proto/ws codecs, then pre-encoded masked frames out and
// frame headers in (payloads are skipped, not copied). Nothing is allocated
// per message.
#pragma once

#include "histogram.hpp"

#include "base/bytes.hpp"
#include "proto/http/head_parser.hpp"
#include "proto/ws/frame.hpp"
#include "proto/ws/handshake.hpp"
#include "runtime/loop.hpp"
#include "runtime/stream.hpp"
#include "runtime/tcp.hpp"
#include "runtime/tls.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace duplex::bench {

enum class Mode { Echo, Fanout, Connect, Idle };

struct Config {
    Mode mode = Mode::Echo;
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    std::string path = "/echo";
    bool tls = false;
    std::shared_ptr<runtime::TlsContext> tls_ctx;
    bool deflate = false;
    bool no_context_takeover = false;
    std::size_t connections = 100;
    std::size_t size = 16;
    std::size_t depth = 1;           // echo: messages in flight per connection
    bool binary = false;
    std::size_t publishers = 1;      // fanout
    double rate = 1000;              // fanout: messages per second per publisher
    std::vector<runtime::Address> sources;  // local addresses to spread connections over
    bool raw = false;                // no opening handshake: for a raw TCP echo (the floor)
    std::size_t warm = 0;            // idle: messages each connection sends (echoed) before it idles
    // fanout: publishers connect here instead (another node of the same cluster); port 0: the same URL
    std::string pub_host;
    std::uint16_t pub_port = 0;
    std::string pub_path;
    /// fanout against a Socket.IO server (Engine.IO 4 over WebSocket, the
    /// baseline of bench/compare_nodes.py): connect to the "/" namespace,
    /// publish events `42["m","<16 hex digits of the send time>"]`, answer
    /// Engine.IO pings; only such events count as received.
    bool socketio = false;
};

/// Counters of one worker, read by the progress line from another thread.
/// sent/received/bytes_in are counted in plain Tallies on the worker's thread
/// and published here once per read (a locked add per message cost the
/// generator more than the server's parse of the message).
struct Counters {
    std::atomic<std::uint64_t> sent{0};
    std::atomic<std::uint64_t> received{0};
    std::atomic<std::uint64_t> bytes_in{0};
    std::atomic<std::uint64_t> handshakes{0};
    std::atomic<std::uint64_t> open{0};
    std::atomic<std::uint64_t> errors{0};
};

class Worker;

class BenchConnection final : public runtime::Stream::Handler {
public:
    enum class Role { Echo, Publisher, Subscriber, Connect, Idle };
    BenchConnection(Worker& w, Role role, std::size_t index);
    void start();
    void publish(std::uint64_t now_ns);  // Publisher: one timestamped message
    bool is_open() const noexcept { return open_; }

private:
    void on_read(base::MutableBytes data) override;
    void on_writable() override { flush(); }
    void on_eof() override;
    void on_error(std::error_code ec) override;
    void on_connected(std::error_code ec) override;

    void opened(base::MutableBytes leftover);
    void frames(base::MutableBytes data);
    void on_frame_end(std::uint8_t opcode, bool fin);
    void send_message();
    void flush();
    void append_text(std::string_view text);  // one masked text frame
    void fail(const std::string& why);
    void restart();

    Worker& w_;
    Role role_;
    std::size_t index_;
    std::unique_ptr<runtime::Stream> stream_;
    proto::http::HeadParser parser_{proto::http::HeadKind::Response};
    proto::ws::ClientRequest request_;
    base::ByteQueue out_;
    bool open_ = false;
    bool in_read_ = false;
    bool compressed_ = false;  // the server agreed to permessage-deflate
    bool sio_joined_ = false;  // Socket.IO: the server answered our namespace connect
    // frame reader
    std::array<std::byte, proto::ws::kMaxHeaderLen> hdr_{};
    std::size_t hdr_len_ = 0;
    std::uint64_t skip_ = 0;          // payload bytes of the current frame still to come
    std::uint8_t cur_op_ = 0;
    bool cur_fin_ = true;
    std::array<std::byte, 32> stamp_{};  // first payload bytes (fanout timestamps; Socket.IO events)
    std::size_t stamp_len_ = 0;
    std::uint64_t payload_pos_ = 0;
    // echo latency: send times of the messages in flight, in order
    std::vector<std::uint64_t> inflight_;
    std::size_t inflight_head_ = 0, inflight_count_ = 0;
};

class Worker {
public:
    Worker(const Config& cfg, std::size_t first_index, std::size_t count, std::size_t publishers);
    /// Runs the load for `duration` on the calling thread.
    void run(std::chrono::milliseconds duration);
    void stop() { loop_.stop(); }

    const Config& cfg;
    runtime::Loop loop_;
    Counters counters;
    Histogram latency;
    std::vector<std::byte> frame_;    // the pre-encoded (masked) message frame
    std::vector<std::byte> plain_frame_;  // the same, never compressed
    std::size_t frame_header_ = 0;
    proto::ws::MaskKey mask_{std::byte{0x12}, std::byte{0x34}, std::byte{0x56}, std::byte{0x78}};
    bool stopping_ = false;

    std::uint64_t now_ns() const;
    /// The clock read once at the start of each read (wrk-style): every
    /// message received and sent while handling the read is stamped with it.
    std::uint64_t read_ns_ = 0;
    /// This thread's running totals, published to `counters` by publish_tallies().
    struct Tallies {
        std::uint64_t sent = 0, received = 0, bytes_in = 0;
    } tallies_;
    void publish_tallies() noexcept {
        counters.sent.store(tallies_.sent, std::memory_order_relaxed);
        counters.received.store(tallies_.received, std::memory_order_relaxed);
        counters.bytes_in.store(tallies_.bytes_in, std::memory_order_relaxed);
    }

private:
    void tick_publishers();
    std::vector<std::unique_ptr<BenchConnection>> conns_;
    std::vector<BenchConnection*> publishers_;
    double publish_credit_ = 0;
    std::chrono::steady_clock::time_point last_tick_;
};

}  // namespace duplex::bench
