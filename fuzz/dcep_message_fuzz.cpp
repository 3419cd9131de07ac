// libFuzzer target: the DCEP codec and the channel table on arbitrary input.
// What parses must encode back to the same bytes; an OPEN is then fed to a
// table on a stream id taken from the input. Must never crash or hang.
#include "proto/dcep/channel_table.hpp"
#include "proto/dcep/message.hpp"

#include <cstddef>
#include <cstdint>
#include <variant>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace duplex::proto::dcep;
    namespace base = duplex::base;
    if (size < 3) return 0;
    const auto stream = static_cast<std::uint16_t>((data[0] << 8) | data[1]);
    const base::Bytes msg(reinterpret_cast<const std::byte*>(data + 2), size - 2);

    (void)classify_ppid(static_cast<std::uint32_t>(data[0]) + 40u);
    std::error_code ec;
    auto m = parse(msg, &ec);
    if (!m) {
        if (!ec) __builtin_trap();
        return 0;
    }
    if (const auto* open = std::get_if<DataChannelOpen>(&*m)) {
        auto bytes = encode(*open);
        if (!bytes || bytes->size() != msg.size() || !std::equal(bytes->begin(), bytes->end(), msg.begin()))
            __builtin_trap();
        ChannelTable table({static_cast<std::uint16_t>(1 + data[1] * 8)});
        table.set_dtls_role((data[0] & 1) != 0);
        auto ack = table.on_open_received(stream, *open);
        if (ack) {
            const Channel* c = table.find(stream);
            if (!c || c->state != ChannelState::Open || c->label != open->label) __builtin_trap();
            (void)to_wire(c->reliability);
            (void)table.on_ack_received(stream);
            (void)table.on_user_message(stream);
            (void)table.close(stream);
            if (!table.release(stream).ok() || table.size() != 0) __builtin_trap();
        } else if (table.size() != 0) {
            __builtin_trap();
        }
    } else if (encode_ack() != std::vector<std::byte>(msg.begin(), msg.end())) {
        __builtin_trap();
    }
    return 0;
}
