// proto/sdp/session_description.hpp: the SDP model, parser and writer (RFC 8866).
//
// An SDP text is a list of "<type>=<value>" lines (RFC 8866 §5):
//
//   Session description                 Media description (0..n)
//      v=  (protocol version, "0")         m=  (media name and transport address)
//      o=  (originator and session id)     i=* (media title)
//      s=  (session name)                  c=* (connection information)
//      i=* u=* e=* p=*                     b=* (bandwidth)
//      c=* (connection information)        k=* (encryption key, obsolete)
//      b=* (bandwidth)                     a=* (attributes)
//      t=  r=* (one or more times)
//      z=* k=*
//      a=* (session attributes)
//
//   o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>
//   m=<media> <port>[/<number of ports>] <proto> <fmt> ...
//   c=<nettype> <addrtype> <connection-address>
//   a=<attribute-name>[:<attribute-value>]
//
// Parsing is tolerant of what browsers send: CRLF or bare LF line ends, a
// missing final line end, any attribute name or value (unknown attributes are
// kept verbatim and written back), and session-level lines in any order after
// s=. It is strict about structure: v=0 first, then exactly one o= and one s=,
// at least one t=, well-formed o=/c=/t=/m= lines, numbers in range, no unknown
// line types (RFC 8866 §5 lets a parser reject those), no control characters,
// and the limits of ParseLimits (input size, lines, media sections).
//
// Errors: parse() returns std::variant<SessionDescription, ParseError>. A
// ParseError carries the 1-based line number where the problem was found (0
// when it concerns the whole input, such as its size) and a one-line message.
//
// The writer emits CRLF line ends, in RFC 8866 order. For a well-formed input
// with CRLF line ends in that order, write(parse(x)) == x byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace duplex::proto::sdp {

/// a=<name>[:<value>] (RFC 8866 §5.13). A property attribute ("a=rtcp-mux")
/// has no value; "a=foo:" has an empty one. Both are kept as they were.
struct Attribute {
    std::string name;
    std::optional<std::string> value;

    friend bool operator==(const Attribute&, const Attribute&) = default;
};

/// A line that the model keeps verbatim without interpreting it (i=, u=, e=,
/// p=, z=, k=): its type letter and its value.
struct Field {
    char type = '\0';
    std::string value;

    friend bool operator==(const Field&, const Field&) = default;
};

/// o= (RFC 8866 §5.2).
struct Origin {
    std::string username = "-";
    std::uint64_t session_id = 0;
    std::uint64_t session_version = 0;
    std::string net_type = "IN";
    std::string addr_type = "IP4";
    std::string address = "127.0.0.1";

    friend bool operator==(const Origin&, const Origin&) = default;
};

/// c= (RFC 8866 §5.7). The address is kept as written (it may carry a
/// multicast "/ttl/count" suffix).
struct Connection {
    std::string net_type = "IN";
    std::string addr_type = "IP4";
    std::string address = "0.0.0.0";

    friend bool operator==(const Connection&, const Connection&) = default;
};

/// t= and the r= lines that follow it (RFC 8866 §5.9, §5.10).
struct Timing {
    std::uint64_t start = 0;
    std::uint64_t stop = 0;
    std::vector<std::string> repeats;  // r= values, verbatim

    friend bool operator==(const Timing&, const Timing&) = default;
};

/// Helpers shared by the session level and each media section: lookups in an
/// ordered attribute list.
class AttributeList {
public:
    std::vector<Attribute> attributes;

    /// True if at least one attribute has this name (case-sensitive, as the
    /// attribute names registered for WebRTC are all lower case).
    bool has_attribute(std::string_view name) const noexcept;
    /// The value of the first attribute with this name: nullopt if there is
    /// none, an empty view for a property attribute that has no value.
    std::optional<std::string_view> attribute(std::string_view name) const noexcept;
    /// The values of every attribute with this name, in order (property
    /// attributes give an empty view).
    std::vector<std::string_view> attributes_named(std::string_view name) const;
    /// Appends an attribute.
    void add_attribute(std::string name, std::optional<std::string> value = std::nullopt);
};

/// One m= section (RFC 8866 §5.14) and the lines under it.
struct Media : AttributeList {
    std::string kind;                          // audio, video, application, or other
    std::uint16_t port = 0;                    // 0 = rejected (RFC 8866 §5.14; RFC 3264 §6)
    std::optional<std::uint16_t> port_count;   // the "/<number of ports>" suffix
    std::string protocol;                      // "UDP/DTLS/SCTP", "UDP/TLS/RTP/SAVPF", ...
    std::vector<std::string> formats;          // at least one
    std::optional<std::string> title;          // i=
    std::optional<Connection> connection;      // c=
    std::vector<std::string> bandwidths;       // b= values, verbatim
    std::optional<std::string> key;            // k= (obsolete; kept if present)

    /// a=mid (RFC 9143 §4.4, §9.1), if present.
    std::optional<std::string_view> mid() const noexcept { return attribute("mid"); }
    /// A port of zero marks a rejected (or disabled) m= section.
    bool rejected() const noexcept { return port == 0; }
};

/// A parsed or built session description.
struct SessionDescription : AttributeList {
    // (v= is always 0, the only version RFC 8866 defines.)
    Origin origin;
    std::string session_name = "-";
    std::vector<Field> descriptive;            // i= u= e= p= lines, in order
    std::optional<Connection> connection;      // session-level c=
    std::vector<std::string> bandwidths;       // session-level b= values
    std::vector<Timing> timings{Timing{}};     // at least one t=
    std::vector<Field> time_extras;            // z= and k= lines, in order
    std::vector<Media> media;

    /// The media section whose a=mid equals this one, or nullptr.
    const Media* find_media(std::string_view mid) const noexcept;
};

struct ParseLimits {
    std::size_t max_bytes = 256 * 1024;
    std::size_t max_lines = 4096;
    std::size_t max_media = 64;
};

struct ParseError {
    std::size_t line = 0;   // 1-based; 0 = the input as a whole
    std::string message;

    /// "SDP line <n>: <message>" (or "SDP: <message>" for line 0).
    std::string to_string() const;
};

using ParseResult = std::variant<SessionDescription, ParseError>;

/// Parses an SDP text. Never throws on bad input (only std::bad_alloc).
ParseResult parse(std::string_view text, const ParseLimits& limits = {});

/// Writes the description with CRLF line ends in RFC 8866 order. Values are
/// expected to be free of CR, LF and NUL (parse() guarantees it); any such
/// byte in a hand-built model is dropped rather than allowed to split a line.
std::string write(const SessionDescription& description);

}  // namespace duplex::proto::sdp
