// proto/dtls/datagram_bio.cpp: the BIO_METHOD behind DatagramBio.
#include "proto/dtls/datagram_bio.hpp"

#include <climits>
#include <deque>
#include <cstring>
#include <memory>

namespace duplex::proto::dtls {

struct DatagramBio::State {
    std::deque<std::vector<std::byte>> inbound;
    std::deque<std::vector<std::byte>> outbound;
    std::size_t mtu = 1200;
    std::size_t max_queued = 64;
    std::size_t dropped = 0;
};

namespace {

using State = DatagramBio::State;

State* state_of(BIO* bio) noexcept { return static_cast<State*>(BIO_get_data(bio)); }

int datagram_write(BIO* bio, const char* data, std::size_t len, std::size_t* written) {
    BIO_clear_retry_flags(bio);
    State* st = state_of(bio);
    if (st == nullptr) return 0;
    // A datagram socket takes the whole write or drops it; it never blocks.
    if (st->outbound.size() >= st->max_queued) {
        ++st->dropped;
    } else {
        const auto* p = reinterpret_cast<const std::byte*>(data);
        st->outbound.emplace_back(p, p + len);
    }
    *written = len;
    return 1;
}

int datagram_read(BIO* bio, char* out, std::size_t len, std::size_t* read) {
    BIO_clear_retry_flags(bio);
    State* st = state_of(bio);
    if (st == nullptr) return 0;
    if (st->inbound.empty()) {
        BIO_set_retry_read(bio);  // SSL_ERROR_WANT_READ: wait for handle_datagram
        *read = 0;
        return 0;
    }
    const std::vector<std::byte>& d = st->inbound.front();
    const std::size_t n = d.size() < len ? d.size() : len;  // the rest is lost, as with recv()
    if (n != 0) std::memcpy(out, d.data(), n);
    st->inbound.pop_front();
    *read = n;
    return 1;
}

long datagram_ctrl(BIO* bio, int cmd, long num, void* /*ptr*/) {
    State* st = state_of(bio);
    if (st == nullptr) return 0;
    const long mtu = st->mtu > static_cast<std::size_t>(LONG_MAX) ? LONG_MAX : static_cast<long>(st->mtu);
    switch (cmd) {
        case BIO_CTRL_DGRAM_QUERY_MTU:
        case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
        case BIO_CTRL_DGRAM_GET_MTU:
            return mtu;
        case BIO_CTRL_DGRAM_SET_MTU:
            if (num > 0) st->mtu = static_cast<std::size_t>(num);
            return num;
        case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
            // Our MTU is already the UDP payload size: no IP/UDP header to subtract.
            return 0;
        case BIO_CTRL_WPENDING:
            // Nothing is held back inside this BIO: every write is already a
            // finished datagram. (OpenSSL subtracts the pending count from the
            // MTU when it fills a datagram, so anything else would shrink it.)
            return 0;
        case BIO_CTRL_PENDING:
            return st->inbound.empty()
                       ? 0
                       : static_cast<long>(st->inbound.front().size() > INT_MAX ? INT_MAX
                                                                                : st->inbound.front().size());
        case BIO_CTRL_FLUSH:
            return 1;
        case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
            // The endpoint asks OpenSSL itself (DTLSv1_get_timeout); nothing to keep.
            return 1;
        case BIO_CTRL_DGRAM_MTU_EXCEEDED:
        case BIO_CTRL_DGRAM_SET_CONNECTED:
        case BIO_CTRL_DGRAM_GET_PEER:
        default:
            return 0;
    }
}

int datagram_create(BIO* bio) {
    BIO_set_data(bio, nullptr);
    BIO_set_init(bio, 1);
    return 1;
}

int datagram_destroy(BIO* bio) {
    if (bio == nullptr) return 0;
    delete state_of(bio);
    BIO_set_data(bio, nullptr);
    return 1;
}

/// The method table, made once per process and kept until exit.
const BIO_METHOD* datagram_method() {
    struct Method {
        BIO_METHOD* m = nullptr;
        Method() {
            m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "duplex datagram");
            if (m == nullptr) return;
            BIO_meth_set_write_ex(m, datagram_write);
            BIO_meth_set_read_ex(m, datagram_read);
            BIO_meth_set_ctrl(m, datagram_ctrl);
            BIO_meth_set_create(m, datagram_create);
            BIO_meth_set_destroy(m, datagram_destroy);
        }
        ~Method() { BIO_meth_free(m); }
        Method(const Method&) = delete;
        Method& operator=(const Method&) = delete;
    };
    static const Method method;  // thread-safe initialisation (C++11 magic statics)
    return method.m;
}

}  // namespace

DatagramBio::DatagramBio(std::size_t mtu, std::size_t max_queued) {
    const BIO_METHOD* m = datagram_method();
    if (m == nullptr) return;
    bio_ = BIO_new(m);
    if (bio_ == nullptr) return;
    auto st = std::make_unique<State>();
    st->mtu = mtu;
    st->max_queued = max_queued == 0 ? 1 : max_queued;
    state_ = st.release();
    BIO_set_data(bio_, state_);
}

DatagramBio::~DatagramBio() { BIO_free(bio_); }

bool DatagramBio::push_inbound(base::Bytes datagram) {
    if (state_ == nullptr || state_->inbound.size() >= state_->max_queued) {
        if (state_ != nullptr) ++state_->dropped;
        return false;
    }
    state_->inbound.emplace_back(datagram.begin(), datagram.end());
    return true;
}

std::optional<std::vector<std::byte>> DatagramBio::pop_outbound() {
    if (state_ == nullptr || state_->outbound.empty()) return std::nullopt;
    std::vector<std::byte> d = std::move(state_->outbound.front());
    state_->outbound.pop_front();
    return d;
}

std::size_t DatagramBio::inbound_queued() const noexcept { return state_ ? state_->inbound.size() : 0; }
std::size_t DatagramBio::outbound_queued() const noexcept { return state_ ? state_->outbound.size() : 0; }
std::size_t DatagramBio::dropped() const noexcept { return state_ ? state_->dropped : 0; }

}  // namespace duplex::proto::dtls
