// api/data_channel.cpp: duplex::DataChannel, the public handle to a channel
// of a PeerConnection (RTCDataChannel): its properties, sends and handlers,
// each run on the peer's loop.
#include <duplex/data_channel.hpp>

#include "api/peer_impl.hpp"

namespace duplex {

namespace {
template <class Fn>
void channel_on_loop(const std::shared_ptr<detail::ChannelState>& st, Fn fn) {
    if (!st) return;
    if (st->loop->in_loop_thread()) fn(*st);
    else st->loop->post([st, fn]() mutable { fn(*st); });
}
}  // namespace

std::string DataChannel::label() const { return state_ ? state_->options.label : std::string(); }
std::string DataChannel::protocol() const { return state_ ? state_->options.protocol : std::string(); }
std::optional<std::uint16_t> DataChannel::id() const {
    if (!state_) return std::nullopt;
    if (auto p = state_->peer.lock(); p && !state_->stream) {
        (void)p;  // the stream id is copied in when the channel opens
    }
    return state_->stream;
}
bool DataChannel::ordered() const { return state_ ? state_->options.ordered : true; }
std::optional<std::uint16_t> DataChannel::max_retransmits() const {
    return state_ ? state_->options.max_retransmits : std::nullopt;
}
std::optional<std::uint32_t> DataChannel::max_packet_life_time() const {
    return state_ ? state_->options.max_packet_life_time : std::nullopt;
}
bool DataChannel::negotiated() const { return state_ && state_->options.negotiated; }
DataChannelState DataChannel::ready_state() const { return state_ ? state_->state : DataChannelState::Closed; }

SendResult DataChannel::send(std::string_view text) {
    if (!state_) return Errc::invalid_state;
    if (state_->loop->in_loop_thread()) {
        auto p = state_->peer.lock();
        if (!p || state_->state != DataChannelState::Open) return Errc::invalid_state;
        return p->send(*state_, false, base::as_bytes(text));
    }
    channel_on_loop(state_, [t = std::string(text)](detail::ChannelState& s) {
        if (auto p = s.peer.lock(); p && s.state == DataChannelState::Open) (void)p->send(s, false, base::as_bytes(t));
    });
    return SendStatus::Success;
}

SendResult DataChannel::send_binary(std::span<const std::byte> data) {
    if (!state_) return Errc::invalid_state;
    if (state_->loop->in_loop_thread()) {
        auto p = state_->peer.lock();
        if (!p || state_->state != DataChannelState::Open) return Errc::invalid_state;
        return p->send(*state_, true, data);
    }
    channel_on_loop(state_, [d = std::vector<std::byte>(data.begin(), data.end())](detail::ChannelState& s) {
        if (auto p = s.peer.lock(); p && s.state == DataChannelState::Open) (void)p->send(s, true, d);
    });
    return SendStatus::Success;
}

SendResult DataChannel::send_binary(std::string_view data) { return send_binary(base::as_bytes(data)); }

std::size_t DataChannel::buffered_amount() const {
    if (!state_) return 0;
    auto p = state_->peer.lock();
    return p ? p->buffered_amount(*state_) : 0;
}
std::size_t DataChannel::buffered_amount_low_threshold() const { return state_ ? state_->low_threshold : 0; }
void DataChannel::set_buffered_amount_low_threshold(std::size_t bytes) {
    channel_on_loop(state_, [bytes](detail::ChannelState& s) {
        if (auto p = s.peer.lock()) p->set_low_threshold(s, bytes);
        else s.low_threshold = bytes;
    });
}

void DataChannel::on_open(std::function<void()> fn) {
    channel_on_loop(state_, [fn = std::move(fn)](detail::ChannelState& s) mutable {
        s.on_open = std::move(fn);
        if (s.open_pending && s.on_open) {
            s.open_pending = false;
            auto cb = s.on_open;
            s.loop->post([cb] { cb(); });  // not from inside the setter
        }
    });
}

void DataChannel::on_message(MessageHandler fn) {
    channel_on_loop(state_, [fn = std::move(fn)](detail::ChannelState& s) mutable {
        s.on_message = std::move(fn);
        while (!s.pending_messages.empty() && s.on_message) {
            auto [data, binary] = std::move(s.pending_messages.front());
            s.pending_messages.pop_front();
            s.pending_bytes -= data.size();
            s.on_message(data, binary);
        }
    });
}

void DataChannel::on_close(std::function<void()> fn) {
    channel_on_loop(state_, [fn = std::move(fn)](detail::ChannelState& s) mutable {
        s.on_close = std::move(fn);
        if (s.close_pending && s.on_close) {
            s.close_pending = false;
            auto cb = std::move(s.on_close);
            s.on_close = nullptr;
            s.loop->post([cb] { cb(); });  // then dropped with the posted task
        }
    });
}

void DataChannel::on_error(std::function<void(const Status&)> fn) {
    channel_on_loop(state_, [fn = std::move(fn)](detail::ChannelState& s) mutable { s.on_error = std::move(fn); });
}

void DataChannel::on_buffered_amount_low(std::function<void()> fn) {
    channel_on_loop(state_, [fn = std::move(fn)](detail::ChannelState& s) mutable { s.on_buffered_low = std::move(fn); });
}

void DataChannel::close() {
    channel_on_loop(state_, [](detail::ChannelState& s) {
        if (auto p = s.peer.lock()) p->close_channel(s);
    });
}

const char* to_string(DataChannelState s) noexcept {
    switch (s) {
        case DataChannelState::Connecting: return "connecting";
        case DataChannelState::Open: return "open";
        case DataChannelState::Closing: return "closing";
        case DataChannelState::Closed: return "closed";
    }
    return "?";
}

}  // namespace duplex
