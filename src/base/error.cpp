// base/error.cpp: the category of duplex::Errc (declared in <duplex/status.hpp>).
#include <duplex/status.hpp>

namespace duplex {

namespace {
class DuplexCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "duplex"; }
    std::string message(int ev) const override {
        switch (static_cast<Errc>(ev)) {
            case Errc::ok: return "ok";
            case Errc::invalid_state: return "invalid state";
            case Errc::invalid_argument: return "invalid argument";
            case Errc::message_too_big: return "message too big";
            case Errc::address_in_use: return "address already in use";
            case Errc::not_supported: return "not supported";
            case Errc::timed_out: return "timed out";
            case Errc::connection_refused: return "connection refused";
            case Errc::resolve_failed: return "host name did not resolve";
            case Errc::handshake_failed: return "opening handshake failed";
            case Errc::backpressure_limit: return "send buffer over max_backpressure";
            case Errc::tls_failed: return "TLS failed";
        }
        return "unknown duplex error";
    }
};
}  // namespace

const std::error_category& error_category() noexcept {
    static const DuplexCategory category;
    return category;
}

}  // namespace duplex
