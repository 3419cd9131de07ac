// proto/rtc/media.cpp: see media.hpp.
#include "proto/rtc/media.hpp"
#include "proto/rtc/media_transceiver.hpp"

#include "proto/dtls/endpoint.hpp"
#include "proto/rtp/packet.hpp"
#include "proto/rtp/rtcp.hpp"
#include "proto/sdp/codec_negotiation.hpp"

#include <algorithm>
#include <array>
#include <chrono>

namespace duplex::proto::rtc {

using namespace media_detail;

namespace {

constexpr std::size_t kMtu = 1200;                         // what a datagram may carry (as browsers use)
constexpr auto kReportInterval = std::chrono::seconds(1);  // RFC 3550 §6.2 lets a session pick its interval
constexpr auto kPliInterval = std::chrono::milliseconds(300);
constexpr auto kKeyFrameGrace = std::chrono::milliseconds(500);
constexpr std::size_t kMaxResendsPerRtcp = 256;

// 32.32 NTP-format time (RFC 3550 §4) from the monotonic clock: only its
// differences matter here (round trips from LSR/DLSR).
std::uint64_t ntp_time(base::Instant t) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    const auto seconds = static_cast<std::uint64_t>(ns / 1'000'000'000);
    const auto fraction = static_cast<std::uint64_t>(ns % 1'000'000'000) * (std::uint64_t{1} << 32) / 1'000'000'000;
    return (seconds << 32) | fraction;
}

}  // namespace


Media::Media(PeerOutputs& out, Link& link, bool accept_remote_tracks, std::size_t max_transceivers)
    : out_(out), link_(link), cname_(random_id(16)), accept_remote_tracks_(accept_remote_tracks),
      max_transceivers_(max_transceivers) {
    scratch_.resize(kMtu + 512);
}

Media::~Media() = default;

// ----------------------------------------------------------------- transceivers

TransceiverKey Media::add(const TransceiverOptions& options, std::string mid) {
    if (transceivers_.size() >= max_transceivers_) return 0;
    auto t = std::make_unique<Transceiver>();
    t->key = next_key_++;
    t->options = options;
    t->info.kind = options.kind;
    t->info.mid = std::move(mid);
    t->info.send = options.send;
    t->info.receive = options.receive;
    t->stream_id = options.stream_id.empty() ? "-" : options.stream_id;
    t->track_id = options.track_id.empty() ? random_id(12) : options.track_id;
    t->info.track_id = t->track_id;
    const TransceiverKey key = t->key;
    transceivers_.push_back(std::move(t));
    return key;
}

Media::Transceiver* Media::find(TransceiverKey key) {
    for (auto& t : transceivers_)
        if (t->key == key) return t.get();
    return nullptr;
}

Media::Transceiver* Media::find_mid(const std::string& mid) {
    if (mid.empty()) return nullptr;
    for (auto& t : transceivers_)
        if (t->info.mid == mid) return t.get();
    return nullptr;
}

bool Media::ours(std::uint32_t ssrc) const {
    for (const auto& t : transceivers_)
        if (t->ssrc == ssrc || t->rtx_ssrc == ssrc) return true;
    return false;
}

Media::Transceiver* Media::find_payload_type(std::uint8_t pt) {
    // Only a section with no stream of that kind yet: a signalled (or
    // already found) stream is not taken over by a stranger with its type.
    Transceiver* found = nullptr;
    for (auto& t : transceivers_) {
        if (!t->info.receiving) continue;
        const bool media = t->receive_types.contains(pt) && !t->remote_ssrc;
        const bool repair = t->receive_rtx.contains(pt) && !t->remote_rtx_ssrc;
        if (!media && !repair) continue;
        if (found != nullptr) return nullptr;  // ambiguous
        found = t.get();
    }
    return found;
}

Media::Transceiver* Media::find_ssrc(std::uint32_t ssrc, bool& rtx) {
    for (auto& t : transceivers_) {
        if (t->remote_ssrc == ssrc) {
            rtx = false;
            return t.get();
        }
        if (t->remote_rtx_ssrc == ssrc) {
            rtx = true;
            return t.get();
        }
    }
    return nullptr;
}

const TransceiverInfo* Media::info(TransceiverKey key) const {
    for (auto& t : transceivers_) {
        if (t->key != key) continue;
        t->info.stats.jitter_seconds = t->jitter ? t->jitter->stats().jitter_ms / 1000.0 : 0;
        t->info.stats.frames_dropped = t->jitter ? t->jitter->stats().frames_dropped : 0;
        t->info.stats.packets_lost = t->nack.stats().given_up;
        t->info.stats.unauthenticated_dropped = unauthenticated_;
        return &t->info;
    }
    return nullptr;
}

std::vector<TransceiverKey> Media::keys() const {
    std::vector<TransceiverKey> v;
    for (auto& t : transceivers_) v.push_back(t->key);
    return v;
}

std::vector<TransceiverKey> Media::assign_mids(const std::function<bool(const std::string&)>& taken) {
    std::vector<TransceiverKey> given;
    for (auto& t : transceivers_) {
        if (!t->info.mid.empty() || t->info.stopped) continue;
        for (unsigned n = 0;; ++n) {
            std::string mid = std::to_string(n);
            if (taken(mid) || find_mid(mid) != nullptr) continue;
            t->info.mid = std::move(mid);
            given.push_back(t->key);
            break;
        }
    }
    return given;
}

void Media::unassign_mids(const std::vector<TransceiverKey>& keys) {
    for (auto key : keys)
        if (Transceiver* t = find(key); t && !t->codec) t->info.mid.clear();  // never negotiated
}

bool Media::has_mid(const std::string& mid) const {
    return std::any_of(transceivers_.begin(), transceivers_.end(), [&](const auto& t) { return t->info.mid == mid; });
}

std::vector<std::string> Media::mids() const {
    std::vector<std::string> v;
    for (auto& t : transceivers_)
        if (!t->info.mid.empty()) v.push_back(t->info.mid);
    return v;
}

// ----------------------------------------------------------------------- wire

void Media::start_srtp(const dtls::SrtpKeyingMaterial& keys, bool dtls_client) {
    auto s = srtp::make_sessions(keys, dtls_client);
    if (!s.ok()) {
        out_.fail("SRTP: " + s.error().message());
        return;
    }
    srtp_ = std::make_unique<srtp::Sessions>(std::move(s.value()));
}

void Media::handle_packet(base::Bytes datagram, base::Instant now) {
    if (!srtp_ || datagram.size() < 12 || datagram.size() > scratch_.size()) return;
    std::copy(datagram.begin(), datagram.end(), scratch_.begin());
    const std::span<std::byte> packet(scratch_.data(), datagram.size());
    if (rtp::looks_like_rtcp(datagram)) {
        auto n = srtp_->inbound.unprotect_rtcp(packet);
        if (!n.ok()) {
            ++unauthenticated_;
            return;
        }
        on_rtcp(base::Bytes(scratch_.data(), n.value()), now);
        return;
    }
    // libsrtp keeps state for every SSRC that authenticates: a bounded few.
    const std::uint32_t ssrc = static_cast<std::uint32_t>(std::to_integer<unsigned>(datagram[8]) << 24 |
                                                          std::to_integer<unsigned>(datagram[9]) << 16 |
                                                          std::to_integer<unsigned>(datagram[10]) << 8 |
                                                          std::to_integer<unsigned>(datagram[11]));
    const bool known = std::find(remote_ssrcs_.begin(), remote_ssrcs_.end(), ssrc) != remote_ssrcs_.end();
    if (!known && remote_ssrcs_.size() >= kMaxRemoteSsrcs) {
        ++unauthenticated_;
        return;
    }
    auto n = srtp_->inbound.unprotect_rtp(packet);
    if (!n.ok()) {
        ++unauthenticated_;
        return;
    }
    if (!known) remote_ssrcs_.push_back(ssrc);
    on_rtp(base::Bytes(scratch_.data(), n.value()), now);
}

void Media::on_rtp(base::Bytes plain, base::Instant now) {
    auto parsed = rtp::parse(plain);
    if (!parsed.ok()) return;
    const rtp::Packet& p = parsed.value();
    bool rtx = false;
    Transceiver* t = find_ssrc(p.ssrc, rtx);
    if (t == nullptr) {
        // Not signalled: the mid extension names its transceiver, or else
        // the payload type does when one m= section alone has it (RFC 8843
        // §9.2; libdatachannel's answers carry no a=ssrc, and no mid).
        for (auto& c : transceivers_) {
            if (c->ext.mid == 0) continue;
            if (auto data = p.extension(c->ext.mid)) {
                if (auto mid = rtp::read_mid(*data)) t = find_mid(*mid);
            }
            break;
        }
        if (t == nullptr) t = find_payload_type(p.payload_type);
        if (t == nullptr || !t->info.receiving) return;
        rtx = t->receive_rtx.count(p.payload_type) > 0;
        bind_remote_ssrc(*t, p.ssrc, rtx);
    }
    if (!t->info.receiving || !t->jitter) return;
    if (t->transport_cc_ok) {
        // Every packet that carries the number, retransmissions and padding
        // probes too: the sender's estimate is made of them all.
        if (auto d = p.extension(t->ext.transport_wide_cc)) {
            if (auto seq = rtp::read_transport_wide_sequence(*d)) {
                transport_feedback_.on_packet(*seq, now);
                transport_feedback_media_ssrc_ = p.ssrc;
            }
        }
    }
    std::uint16_t sequence = p.sequence;
    base::Bytes payload = p.payload;
    std::uint8_t pt = p.payload_type;
    if (rtx) {
        auto apt = t->receive_rtx.find(p.payload_type);
        auto u = rtp::unwrap_rtx(p);
        if (apt == t->receive_rtx.end() || !u) return;
        if (u->payload.empty()) return;  // RFC 4588 §8.3 padding-only probes
        sequence = u->original_sequence;
        payload = u->payload;
        pt = apt->second;
        ++t->info.stats.retransmitted_packets_received;
    }
    auto type = t->receive_types.find(pt);
    if (type == t->receive_types.end()) return;
    if (type->second != t->jitter->codec()) {  // the sender switched to another negotiated codec
        t->codec = type->second;
        t->info.codec = public_codec(type->second);
        reset_receiver(*t);
    }
    // RFC 3550 §A.3 counters for the report blocks (originals only).
    if (!rtx) {
        if (!t->have_sequence) {
            t->have_sequence = true;
            t->base_sequence = t->max_sequence = sequence;
        } else if (rtp::seq_newer(sequence, t->max_sequence)) {
            if (sequence < t->max_sequence) t->cycles += 0x10000;
            t->max_sequence = sequence;
        }
        ++t->received;
    }
    ++t->info.stats.packets_received;
    t->info.stats.bytes_received += payload.size();
    if (!t->first_packet_at) t->first_packet_at = now;
    if (t->info.kind == MediaKind::Audio) {
        std::int16_t level = -1;
        if (t->ext.audio_level)
            if (auto d = p.extension(t->ext.audio_level))
                if (auto a = rtp::read_audio_level(*d)) level = a->level;
        t->levels[sequence % t->levels.size()] = Transceiver::Level{sequence, level};
    }
    t->jitter->insert(sequence, p.timestamp, p.marker, payload, now, rtx);
    if (t->nack_ok) t->nack.on_packet(sequence, now);
    drain_frames(*t, now);
    send_feedback(*t, now);
}

void Media::drain_frames(Transceiver& t, base::Instant now) {
    if (!t.jitter) return;
    while (auto f = t.jitter->poll_frame(now)) {
        ++t.info.stats.frames_received;
        if (f->key_frame) ++t.info.stats.key_frames_received;
        std::optional<std::uint8_t> level;
        if (t.info.kind == MediaKind::Audio) {
            const auto seq = static_cast<std::uint16_t>(f->first_sequence & 0xffff);
            const auto& l = t.levels[seq % t.levels.size()];
            if (l.sequence == seq && l.level >= 0) level = static_cast<std::uint8_t>(l.level);
        }
        out_.emit(event::TrackFrame{t.key, f->rtp_timestamp, f->key_frame, {f->data.begin(), f->data.end()}, level});
    }
}

std::optional<base::Instant> Media::key_request_at(const Transceiver& t) const {
    // A key frame is wanted after a gap too wide to repair with NACKs or a
    // loss the jitter buffer could not repair (at once), or when none came
    // in the stream's first half second (we joined late); PLIs are at least
    // kPliInterval apart.
    if (!t.pli_ok || !t.remote_ssrc || !t.jitter) return std::nullopt;
    std::optional<base::Instant> at;
    if (t.key_request_pending || (t.jitter->key_frame_wanted() && t.jitter->stats().frames_dropped > 0))
        at = base::Instant{};
    else if (t.jitter->key_frame_wanted() && t.first_packet_at)
        at = *t.first_packet_at + kKeyFrameGrace;
    if (at && t.last_pli && *at < *t.last_pli + kPliInterval) at = *t.last_pli + kPliInterval;
    return at;
}

void Media::send_feedback(Transceiver& t, base::Instant now) {
    if (!t.remote_ssrc || !srtp_) return;
    const auto lost = t.nack_ok ? t.nack.poll_nacks(now) : std::vector<std::uint16_t>{};
    if (t.nack.take_key_frame_request()) t.key_request_pending = true;
    const auto key_at = key_request_at(t);
    const bool pli_due = key_at && *key_at <= now;
    if (lost.empty() && !pli_due) return;
    std::vector<std::byte> compound;
    // RFC 4585 §3.1: feedback in a compound that starts with a report.
    rtp::ReceiverReport rr;
    rr.ssrc = t.ssrc;
    rtp::write_receiver_report(rr, compound);
    rtp::write_sdes_cname(t.ssrc, cname_, compound);
    if (!lost.empty()) {
        rtp::write_nack(t.ssrc, *t.remote_ssrc, lost, compound);
        ++t.info.stats.nacks_sent;
    }
    if (pli_due) {
        rtp::write_pli(t.ssrc, *t.remote_ssrc, compound);
        t.last_pli = now;
        t.key_request_pending = false;
        ++t.info.stats.plis_sent;
    }
    send_rtcp(std::move(compound));
}

void Media::bind_remote_ssrc(Transceiver& t, std::uint32_t ssrc, bool rtx) {
    auto& slot = rtx ? t.remote_rtx_ssrc : t.remote_ssrc;
    if (slot == ssrc) return;
    if (slot) {
        // Another stream now: what libsrtp and we kept of the old one goes.
        std::erase(remote_ssrcs_, *slot);
        if (srtp_) srtp_->inbound.forget_ssrc(*slot);
    }
    slot = ssrc;
    if (!rtx && t.jitter) reset_receiver(t);
}

base::Duration Media::loss_wait(const Transceiver& t) const {
    // Long enough for a NACK, its retransmission, and several more tries
    // should those be lost too, or come late behind a burst of others (a
    // browser paces its retransmissions with its media): eight round trips
    // (rtt_of) and 60 ms, at most 900 ms (the NACK generator asks for a
    // second at most). A frame given up costs every frame up to the next
    // key frame; a wait costs only latency, and only on a loss.
    if (!t.nack_ok) return {};
    return std::min<base::Duration>(8 * rtt_of(t) + std::chrono::milliseconds(60), std::chrono::milliseconds(900));
}

base::Duration Media::rtt_of(const Transceiver& t) const {
    // RTCP's (SR/RR) if measured, else ICE's, else 100 ms.
    if (t.info.stats.round_trip_time) return *t.info.stats.round_trip_time;
    return path_rtt_.value_or(std::chrono::milliseconds(100));
}

void Media::set_path_rtt(std::optional<base::Duration> rtt) {
    if (!rtt || rtt == path_rtt_) return;
    path_rtt_ = rtt;
    for (auto& t : transceivers_) {
        if (t->info.stats.round_trip_time) continue;  // RTCP measured one: it wins
        t->nack.set_rtt(*rtt);
        if (t->jitter) t->jitter->set_loss_wait(loss_wait(*t));
    }
}

void Media::reset_receiver(Transceiver& t) {
    rtp::JitterBufferConfig cfg;
    cfg.clock_rate = clock_rate(*t.codec);
    t.jitter = std::make_unique<rtp::JitterBuffer>(*t.codec, cfg);
    t.jitter->set_loss_wait(loss_wait(t));
    t.nack = rtp::NackGenerator{};
    t.nack.set_rtt(rtt_of(t));
    t.have_sequence = false;
    t.cycles = 0;
    t.received = t.expected_prior = t.received_prior = 0;
    t.last_sr = 0;
    t.first_packet_at.reset();
    t.key_request_pending = false;
}

bool Media::stop_local(TransceiverKey key) {
    Transceiver* t = find(key);
    if (t == nullptr) return false;
    if (!t->info.mid.empty()) stop(t->info.mid);
    t->info.stopped = true;
    t->info.sending = t->info.receiving = false;
    return true;
}

bool Media::set_direction(TransceiverKey key, bool send, bool receive) {
    Transceiver* t = find(key);
    if (t == nullptr || t->info.stopped) return false;
    t->info.send = send;
    t->info.receive = receive;
    return true;
}

void Media::send_bye(std::span<Transceiver* const> leaving) {
    // RFC 3550 §6.6: the streams that end say so, in a compound that starts
    // with a report (§6.1); a receiver may then forget them.
    if (!srtp_) return;
    std::vector<std::uint32_t> ssrcs;
    for (const Transceiver* t : leaving) {
        if (!t->sent_any) continue;
        ssrcs.push_back(t->ssrc);
        if (t->rtx_pt != 0) ssrcs.push_back(t->rtx_ssrc);
    }
    if (ssrcs.empty()) return;
    std::vector<std::byte> compound;
    rtp::ReceiverReport rr;
    rr.ssrc = ssrcs.front();
    rtp::write_receiver_report(rr, compound);
    rtp::write_sdes_cname(rr.ssrc, cname_, compound);
    rtp::write_bye(ssrcs, {}, compound);
    send_rtcp(std::move(compound));
}

void Media::close() {
    std::vector<Transceiver*> sending;
    for (auto& t : transceivers_)
        if (!t->info.stopped) sending.push_back(t.get());
    send_bye(sending);
}

void Media::stop(const std::string& mid) {
    Transceiver* t = find_mid(mid);
    if (t == nullptr) return;
    if (!t->info.stopped) {
        Transceiver* const one[] = {t};
        send_bye(one);
    }
    t->info.sending = t->info.receiving = false;
    t->info.stopped = true;
    if (t->remote_ssrc) {
        std::erase(remote_ssrcs_, *t->remote_ssrc);
        if (srtp_) srtp_->inbound.forget_ssrc(*t->remote_ssrc);
    }
    if (t->remote_rtx_ssrc) {
        std::erase(remote_ssrcs_, *t->remote_rtx_ssrc);
        if (srtp_) srtp_->inbound.forget_ssrc(*t->remote_rtx_ssrc);
    }
    t->remote_ssrc.reset();
    t->remote_rtx_ssrc.reset();
    t->jitter.reset();
    t->history.reset();
}

void Media::on_rtcp(base::Bytes plain, base::Instant now) {
    auto parsed = rtp::parse_rtcp(plain);
    if (!parsed.ok()) return;
    auto by_our_ssrc = [&](std::uint32_t ssrc) -> Transceiver* {
        for (auto& t : transceivers_)
            if (t->ssrc == ssrc) return t.get();
        return nullptr;
    };
    auto blocks = [&](const std::vector<rtp::ReportBlock>& list) {
        for (const auto& b : list) {
            Transceiver* t = by_our_ssrc(b.ssrc);
            if (t == nullptr || b.last_sr == 0) continue;
            // RFC 3550 §6.4.1: RTT = A - LSR - DLSR, in 1/65536 s.
            const std::uint32_t a = rtp::ntp_middle(ntp_time(now));
            const std::uint32_t rtt = a - b.last_sr - b.delay_since_last_sr;
            if (rtt > 0x80000000u) continue;  // a clock or report that makes no sense
            const auto d = std::chrono::duration_cast<base::Duration>(std::chrono::microseconds(
                static_cast<std::int64_t>(rtt) * 1'000'000 / 65536));
            t->info.stats.round_trip_time = d;
            for (auto& r : transceivers_) {
                r->nack.set_rtt(d);
                r->info.stats.round_trip_time = d;
                if (r->jitter) r->jitter->set_loss_wait(loss_wait(*r));
            }
        }
    };
    std::size_t resends = 0;
    for (const auto& packet : parsed.value()) {
        if (auto* sr = std::get_if<rtp::SenderReport>(&packet)) {
            bool rtx = false;
            if (Transceiver* t = find_ssrc(sr->ssrc, rtx); t && !rtx) {
                t->last_sr = rtp::ntp_middle(sr->ntp_time);
                t->last_sr_at = now;
            }
            blocks(sr->blocks);
        } else if (auto* rr = std::get_if<rtp::ReceiverReport>(&packet)) {
            blocks(rr->blocks);
        } else if (auto* nack = std::get_if<rtp::Nack>(&packet)) {
            Transceiver* t = by_our_ssrc(nack->media_ssrc);
            if (t == nullptr || !t->info.sending || !t->history) continue;
            ++t->info.stats.nacks_received;
            // A packet goes again at most once per round trip (a repeated
            // NACK that crossed our retransmission asks for nothing new), and
            // one compound makes at most kMaxResendsPerRtcp of them: NACKs
            // cannot multiply what we send.
            const auto rtt = rtt_of(*t);
            const auto min_interval = std::max<base::Duration>(rtt, std::chrono::milliseconds(10));
            for (auto seq : nack->lost) {
                if (resends >= kMaxResendsPerRtcp) break;
                // Retransmissions share the path with the media: once there
                // is an estimate, they draw on a bucket that fills at its rate
                // and holds a second of it (a burst of loss is repaired at
                // once; a congested path, whose losses make NACKs that would
                // fill it further, gets no more than it carries).
                if (said_bps_ != 0) {
                    const auto held = t->history->find(seq);
                    if (!held) continue;
                    const double rate = estimator_.target_bps() / 8.0;  // bytes a second
                    resend_tokens_ = !resend_tokens_at_
                                         ? rate
                                         : std::min(rate, resend_tokens_ + rate * std::chrono::duration<double>(now - *resend_tokens_at_).count());
                    resend_tokens_at_ = now;
                    if (resend_tokens_ < static_cast<double>(held->size() + 2 + srtp::Session::kMaxTrailer)) {
                        ++t->info.stats.retransmissions_skipped;
                        continue;
                    }
                }
                auto kept = t->history->take_for_resend(seq, now, min_interval);
                if (!kept) continue;
                ++resends;
                auto original = rtp::parse(*kept);
                if (!original.ok()) continue;
                std::array<std::byte, kMtu + 64> buf;
                std::size_t n;
                // An RTX packet gets its own transport-wide number (the
                // original's was told about already), so that the estimate
                // counts it: if the original carried one.
                std::optional<std::uint16_t> numbered;
                if (t->rtx_pt != 0) {
                    std::array<std::byte, 2> twcc{};
                    std::array<rtp::Extension, 1> own{};
                    std::size_t owns = 0;
                    if (t->ext.transport_wide_cc) {
                        original.value().for_each_extension([&](const rtp::Extension& e) {
                            if (e.id == t->ext.transport_wide_cc) numbered = transport_sequence_;
                        });
                        twcc = rtp::transport_wide_sequence(transport_sequence_);
                        own[owns++] = rtp::Extension{t->ext.transport_wide_cc, base::Bytes(twcc.data(), twcc.size())};
                    }
                    n = rtp::write_rtx(original.value(), t->rtx_pt, t->rtx_ssrc, t->rtx_sequence++, buf,
                                       std::span<const rtp::Extension>(own.data(), owns));
                } else {
                    n = kept->size();
                    std::copy(kept->begin(), kept->end(), buf.begin());
                }
                if (n == 0 || n + srtp::Session::kMaxTrailer > buf.size()) continue;
                auto protected_size = srtp_->outbound.protect_rtp(buf, n);
                if (!protected_size.ok()) continue;
                if (said_bps_ != 0) resend_tokens_ -= static_cast<double>(protected_size.value());
                if (numbered) estimator_.on_sent(transport_sequence_++, protected_size.value(), now);
                ++t->info.stats.retransmitted_packets_sent;
                link_.send_media(std::vector<std::byte>(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(protected_size.value())));
            }
        } else if (auto* pli = std::get_if<rtp::Pli>(&packet)) {
            if (Transceiver* t = by_our_ssrc(pli->media_ssrc); t && t->info.sending) {
                ++t->info.stats.plis_received;
                out_.emit(event::KeyFrameRequested{t->key});
            }
        } else if (auto* fir = std::get_if<rtp::Fir>(&packet)) {
            for (const auto& e : fir->entries)
                if (Transceiver* t = by_our_ssrc(e.ssrc); t && t->info.sending && t->last_fir_sequence != e.sequence) {
                    t->last_fir_sequence = e.sequence;  // RFC 5104 §4.3.1.2: a repeat is the same request
                    ++t->info.stats.plis_received;
                    out_.emit(event::KeyFrameRequested{t->key});
                }
        } else if (auto* bye = std::get_if<rtp::Bye>(&packet)) {
            // The remote's stream ended: its SSRC is forgotten (a new one
            // binds afresh). The SRTCP check vouches that the remote sent it.
            for (auto ssrc : bye->ssrcs) {
                bool rtx = false;
                Transceiver* t = find_ssrc(ssrc, rtx);
                if (t == nullptr) continue;
                std::erase(remote_ssrcs_, ssrc);
                srtp_->inbound.forget_ssrc(ssrc);
                (rtx ? t->remote_rtx_ssrc : t->remote_ssrc).reset();
                if (!rtx) ++t->info.stats.byes_received;
            }
        } else if (auto* other = std::get_if<rtp::OtherRtcp>(&packet)) {
            // Transport feedback about what we sent: the bandwidth estimate,
            // said to the application when it moved by 5 % (it sets its
            // encoders' rates from it; we send what we are given).
            if (other->type != rtp::rtcp_type::kTransportFeedback || other->count != 15) continue;
            ++transport_feedback_received_;
            const auto feedback = rtp::read_transport_feedback(other->packet);
            if (!feedback) continue;
            estimator_.on_feedback(*feedback, now);
            const std::uint32_t bps = estimator_.target_bps();
            if (said_bps_ == 0 || (bps > said_bps_ ? bps - said_bps_ : said_bps_ - bps) * 20 >= said_bps_) {
                said_bps_ = bps;
                out_.emit(event::OutgoingBitrate{bps});
            }
        }
    }
}

void Media::send_rtcp(std::vector<std::byte> compound) {
    if (!srtp_) return;
    compound.resize(compound.size() + srtp::Session::kMaxTrailer + 4);  // SRTCP adds the index and the tag
    const std::size_t len = compound.size() - srtp::Session::kMaxTrailer - 4;
    auto n = srtp_->outbound.protect_rtcp(compound, len);
    if (!n.ok()) return;
    compound.resize(n.value());
    link_.send_media(std::move(compound));
}

base::Status Media::send_frame(TransceiverKey key, base::Bytes frame, std::uint32_t rtp_timestamp, base::Instant now,
                              std::optional<std::uint8_t> audio_level) {
    Transceiver* t = find(key);
    if (t == nullptr) return base::Status(make_error_code(Errc::invalid_argument), "no such transceiver");
    if (audio_level && *audio_level > 127)
        return base::Status(make_error_code(Errc::invalid_argument), "an audio level is 0 (loudest) to 127 (silence) -dBov");
    if (!t->info.sending || !t->packetizer)
        return base::Status(make_error_code(Errc::invalid_state),
                            "the transceiver does not send: not negotiated yet, or the remote does not receive");
    if (!srtp_) return base::Status(make_error_code(Errc::invalid_state), "not connected yet (no SRTP keys)");

    std::array<std::byte, 3> abs = rtp::abs_send_time(now);
    std::array<std::byte, 2> twcc{};
    std::array<std::byte, 1> level{};
    std::array<rtp::Extension, 4> ext;
    std::size_t n_ext = 0;
    const auto& mid = t->info.mid;
    if (t->ext.mid && !mid.empty() && mid.size() <= 16)
        ext[n_ext++] = rtp::Extension{t->ext.mid, base::Bytes(reinterpret_cast<const std::byte*>(mid.data()), mid.size())};
    if (t->ext.abs_send_time) ext[n_ext++] = rtp::Extension{t->ext.abs_send_time, base::Bytes(abs.data(), abs.size())};
    const std::size_t twcc_index = n_ext;
    if (t->ext.transport_wide_cc) ext[n_ext++] = rtp::Extension{t->ext.transport_wide_cc, base::Bytes(twcc.data(), twcc.size())};
    if (t->ext.audio_level && audio_level && t->info.kind == MediaKind::Audio) {
        // RFC 6464 §3: the level; the voice flag (V) is set when it is above
        // silence (no voice-activity detector here: the encoder's business).
        level[0] = rtp::audio_level(rtp::AudioLevel{*audio_level < 127, *audio_level});
        ext[n_ext++] = rtp::Extension{t->ext.audio_level, base::Bytes(level.data(), level.size())};
    }

    rtp::Header h;
    h.payload_type = t->info.payload_type;
    h.timestamp = rtp_timestamp;
    h.ssrc = t->ssrc;
    h.extensions = std::span<const rtp::Extension>(ext.data(), n_ext);
    const std::size_t header = rtp::written_size(h, 0);
    const std::size_t max_payload = kMtu - header - srtp::Session::kMaxTrailer;
    t->packetizer->start(frame, max_payload);
    std::array<std::byte, kMtu> payload;
    bool first = true;
    for (;;) {
        bool last = false;
        const std::size_t n = t->packetizer->next(payload, last);
        if (n == 0) break;
        // Video: the marker ends a frame (RFC 7741 §4.1); audio: it starts a
        // talkspurt (RFC 7587 §4.1), here only the stream's first packet.
        h.marker = t->info.kind == MediaKind::Video ? last : (first && !t->sent_any);
        h.sequence = t->sequence++;
        if (t->ext.transport_wide_cc) {
            estimator_.on_sent(transport_sequence_, header + n + srtp::Session::kMaxTrailer, now);
            twcc = rtp::transport_wide_sequence(transport_sequence_++);
            ext[twcc_index].data = base::Bytes(twcc.data(), twcc.size());
        }
        send_rtp(*t, h, base::Bytes(payload.data(), n), now, false);
        first = false;
    }
    if (first)
        return base::Status(make_error_code(Errc::invalid_argument),
                            t->single_nal ? "H.264 packetization-mode 0: every NAL unit must fit one packet (" +
                                                std::to_string(max_payload) + " bytes); encode with slices that small"
                                          : std::string("the frame cannot be sent in this codec's packets"));
    t->sent_any = true;
    t->last_timestamp = rtp_timestamp;
    t->last_sent = now;
    ++t->info.stats.frames_sent;
    return {};
}

void Media::send_rtp(Transceiver& t, const rtp::Header& h, base::Bytes payload, base::Instant now, bool retransmission) {
    std::vector<std::byte> datagram = out_.buffer(rtp::written_size(h, payload.size()) + srtp::Session::kMaxTrailer);
    const std::size_t n = rtp::write(h, payload, datagram);
    if (n == 0) return;
    if (!retransmission && t.history) t.history->store(h.sequence, base::Bytes(datagram.data(), n), now);
    auto protected_size = srtp_->outbound.protect_rtp(datagram, n);
    if (!protected_size.ok()) return;
    datagram.resize(protected_size.value());
    ++t.info.stats.packets_sent;
    t.info.stats.bytes_sent += payload.size();
    link_.send_media(std::move(datagram));
}

base::Status Media::request_key_frame(TransceiverKey key, base::Instant now) {
    Transceiver* t = find(key);
    if (t == nullptr) return base::Status(make_error_code(Errc::invalid_argument), "no such transceiver");
    if (!t->info.receiving || !t->remote_ssrc)
        return base::Status(make_error_code(Errc::invalid_state), "the transceiver receives nothing yet");
    if (!t->pli_ok)
        return base::Status(make_error_code(Errc::not_supported), "the remote did not negotiate PLI (a=rtcp-fb nack pli)");
    std::vector<std::byte> compound;
    rtp::ReceiverReport rr;
    rr.ssrc = t->ssrc;
    rtp::write_receiver_report(rr, compound);
    rtp::write_pli(t->ssrc, *t->remote_ssrc, compound);
    t->last_pli = now;
    ++t->info.stats.plis_sent;
    send_rtcp(std::move(compound));
    return {};
}

void Media::send_reports(base::Instant now) {
    const std::uint64_t ntp = ntp_time(now);
    for (auto& t : transceivers_) {
        if (!t->codec) continue;
        std::vector<rtp::ReportBlock> blocks;
        if (t->info.receiving && t->remote_ssrc && t->have_sequence) {
            rtp::ReportBlock b;
            b.ssrc = *t->remote_ssrc;
            const std::uint64_t expected = std::uint64_t{t->extended_max()} - t->base_sequence + 1;
            const std::int64_t lost = static_cast<std::int64_t>(expected) - static_cast<std::int64_t>(t->received);
            const std::uint64_t expected_interval = expected - t->expected_prior;
            const std::uint64_t received_interval = t->received - t->received_prior;
            t->expected_prior = expected;
            t->received_prior = t->received;
            const std::int64_t lost_interval =
                static_cast<std::int64_t>(expected_interval) - static_cast<std::int64_t>(received_interval);
            b.fraction_lost = expected_interval == 0 || lost_interval <= 0
                                  ? 0
                                  : static_cast<std::uint8_t>(std::min<std::int64_t>(255, (lost_interval << 8) / static_cast<std::int64_t>(expected_interval)));
            b.cumulative_lost = static_cast<std::int32_t>(std::clamp<std::int64_t>(lost, -0x800000, 0x7FFFFF));
            b.highest_sequence = t->extended_max();
            b.jitter = t->jitter ? static_cast<std::uint32_t>(t->jitter->stats().jitter_ms * clock_rate(*t->codec) / 1000.0) : 0;
            if (t->last_sr != 0) {
                b.last_sr = t->last_sr;
                b.delay_since_last_sr = static_cast<std::uint32_t>(
                    std::chrono::duration_cast<std::chrono::microseconds>(now - t->last_sr_at).count() * 65536 / 1'000'000);
            }
            blocks.push_back(b);
        }
        std::vector<std::byte> compound;
        if (t->info.sending && t->sent_any) {
            rtp::SenderReport sr;
            sr.ssrc = t->ssrc;
            sr.ntp_time = ntp;
            const auto since = std::chrono::duration_cast<std::chrono::microseconds>(now - t->last_sent).count();
            sr.rtp_time = t->last_timestamp + static_cast<std::uint32_t>(since * clock_rate(*t->codec) / 1'000'000);
            sr.packet_count = static_cast<std::uint32_t>(t->info.stats.packets_sent);
            sr.octet_count = static_cast<std::uint32_t>(t->info.stats.bytes_sent);
            sr.blocks = std::move(blocks);
            rtp::write_sender_report(sr, compound);
        } else if (t->info.receiving) {
            rtp::ReceiverReport rr;
            rr.ssrc = t->ssrc;
            rr.blocks = std::move(blocks);
            rtp::write_receiver_report(rr, compound);
        } else {
            continue;
        }
        rtp::write_sdes_cname(t->ssrc, cname_, compound);
        send_rtcp(std::move(compound));
    }
}

std::optional<base::Instant> Media::poll_timeout() const {
    if (!srtp_) return std::nullopt;
    std::optional<base::Instant> next;
    auto fold = [&next](std::optional<base::Instant> x) {
        if (x && (!next || *x < *next)) next = x;
    };
    bool any = false;
    for (const auto& t : transceivers_) {
        if (!t->codec) continue;
        any = true;
        if (t->jitter) fold(t->jitter->poll_timeout());
        if (t->remote_ssrc && t->nack_ok) fold(t->nack.poll_timeout());
        fold(key_request_at(*t));
    }
    if (any) fold(next_report_);
    fold(transport_feedback_.poll_timeout());
    return next;
}

void Media::handle_timeout(base::Instant now) {
    if (!srtp_) return;
    for (auto& t : transceivers_) {
        drain_frames(*t, now);
        send_feedback(*t, now);
    }
    if (now >= next_report_) {
        if (next_report_ != base::Instant{}) send_reports(now);
        next_report_ = now + kReportInterval;
    }
    send_transport_feedback(now);
}

void Media::fill_stats(PeerStats& st) const {
    st.transport_feedback_sent = transport_feedback_.packets_written();
    st.transport_feedback_received = transport_feedback_received_;
    if (said_bps_ != 0) st.available_outgoing_bitrate = estimator_.target_bps();
}

void Media::send_transport_feedback(base::Instant now) {
    const auto due = transport_feedback_.poll_timeout();
    if (!due || *due > now || transceivers_.empty()) return;
    // RFC 4585 §3.1: feedback in a compound that starts with a report.
    std::vector<std::byte> compound;
    rtp::ReceiverReport rr;
    rr.ssrc = transceivers_.front()->ssrc;
    rtp::write_receiver_report(rr, compound);
    rtp::write_sdes_cname(rr.ssrc, cname_, compound);
    if (transport_feedback_.write(rr.ssrc, transport_feedback_media_ssrc_, now, compound)) send_rtcp(std::move(compound));
}

}  // namespace duplex::proto::rtc
