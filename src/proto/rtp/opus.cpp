// proto/rtp/opus.cpp: Opus in RTP (RFC 7587 §4.2): one Opus packet per RTP
// payload, as it is; the marker bit only after silence (DTX), which the
// sender decides; every packet decodes alone.
#include "proto/rtp/payload_format.hpp"

#include <cstring>

namespace duplex::proto::rtp {

namespace {

class OpusPacketizer final : public Packetizer {
public:
    void start(base::Bytes frame, std::size_t max_payload) override {
        frame_ = frame;
        // §4.2: one packet, never split; one that does not fit is not sent.
        pending_ = !frame.empty() && frame.size() <= max_payload;
    }
    std::size_t next(std::span<std::byte> out, bool& last) override {
        if (!pending_ || out.size() < frame_.size()) return 0;
        pending_ = false;
        std::memcpy(out.data(), frame_.data(), frame_.size());
        last = true;
        return frame_.size();
    }

private:
    base::Bytes frame_;
    bool pending_ = false;
};

class OpusDepacketizer final : public Depacketizer {
public:
    bool starts_frame(base::Bytes) const override { return true; }
    bool is_key_frame(base::Bytes) const override { return true; }
    bool append(base::Bytes payload, std::vector<std::byte>& frame) override {
        if (payload.empty()) return false;
        frame.insert(frame.end(), payload.begin(), payload.end());
        return true;
    }
};

}  // namespace

std::unique_ptr<Packetizer> make_opus_packetizer() { return std::make_unique<OpusPacketizer>(); }
std::unique_ptr<Depacketizer> make_opus_depacketizer() { return std::make_unique<OpusDepacketizer>(); }

}  // namespace duplex::proto::rtp
