#include "proto/sctp/error.hpp"

#include <string>

namespace duplex::proto::sctp {

namespace {
class SctpCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "sctp"; }
    std::string message(int ev) const override {
        switch (static_cast<SctpError>(ev)) {
            case SctpError::stack_failure: return "the SCTP stack refused a call";
            case SctpError::cannot_start: return "the SCTP association could not be started";
            case SctpError::association_lost: return "the SCTP association was lost (retransmissions exhausted)";
            case SctpError::message_too_big: return "the peer sent a message over max-message-size";
            case SctpError::protocol_violation: return "SCTP protocol violation";
        }
        return "unknown sctp error";
    }
};
}  // namespace

const std::error_category& sctp_category() noexcept {
    static const SctpCategory category;
    return category;
}

}  // namespace duplex::proto::sctp
