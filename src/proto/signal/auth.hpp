// proto/signal/auth.hpp: the join token of --signal-secret, and coturn's
// ephemeral TURN credentials ("TURN REST API", coturn --use-auth-secret).
//
// Token: "v1.<room>.<expiry>.<mac>", where <expiry> is a Unix time in
// seconds and <mac> is base64url, unpadded, of
// HMAC-SHA256(secret, "v1.<room>.<expiry>"). Room names may contain '.':
// the last two fields are split from the right.
//
// TURN: username "<expiry>:<peer id>", password base64(HMAC-SHA1(secret, username)).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace duplex::proto::signal {

std::string make_token(std::string_view secret, std::string_view room, std::int64_t expiry);
/// True when `token` names `room`, is signed with `secret` and has not expired at `unix_now`.
bool check_token(std::string_view secret, std::string_view token, std::string_view room, std::int64_t unix_now);

struct TurnCredentials {
    std::string username;
    std::string password;
};
TurnCredentials turn_credentials(std::string_view secret, std::string_view peer_id, std::int64_t expiry);

}  // namespace duplex::proto::signal
