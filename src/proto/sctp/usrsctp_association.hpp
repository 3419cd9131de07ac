// proto/sctp/usrsctp_association.hpp: the Association interface over usrsctp
// (the SCTP stack of FreeBSD as a user-space library) in its no-threads mode,
// with AF_CONN addresses: SCTP packets go to and come from our queues, never
// to a socket (RFC 8261 §5: SCTP directly over DTLS, no IP/UDP header).
//
// usrsctp keeps process-wide state, and the rules that follow from it
// (docs/decisions/0009-sctp-usrsctp-nothreads.md):
//  * One library instance per process, initialised with the first association
//    (usrsctp_init_nothreads: no timer and no receive thread) and kept for
//    the life of the process; usrsctp_release_library() tears it down. Not
//    refcounted: usrsctp 0.9.5 does not re-initialise cleanly (its iterator
//    thread exits at once after a second init, and the address-change work
//    it should run would then pile up).
//  * usrsctp always starts one "iterator" thread, even in no-threads mode. It
//    sleeps until an iterator is queued; for our AF_CONN sockets that happens
//    only when an association's address is deregistered, and that iterator
//    visits bound-all endpoints only (we have none): it never calls back into
//    this code. Every packet and event of ours is produced on the caller's
//    thread.
//  * One timer wheel for all associations. usrsctp_handle_timers(elapsed ms)
//    is called from handle_timeout(now) of ANY association, with the time
//    since the previous call (one process-wide "last drive" instant). Timers
//    of other associations may fire then: their packets and events land in
//    their own queues, and each association is drained after every drive.
//    So after handle_timeout() on one association, the caller polls
//    poll_transmit()/poll_event() of EVERY association of the process (or at
//    least re-reads their poll_timeout(), which moves with the shared drive).
//  * All associations of a process are used from one thread (DESIGN.md).
//  * usrsctp offers no "next timer" query: poll_timeout() is a fixed 10 ms
//    tick after the last drive while the association is alive (Firefox drives
//    usrsctp_handle_timers with the same 10 ms period).
//  * usrsctp reads the wall clock itself for RTT samples, PR-SCTP lifetimes
//    (max_packet_life_time) and for choosing which chunks a T3 timeout
//    retransmits or abandons (those outstanding one RTO by the wall clock).
//    Everything else (when retransmission, heartbeat, delayed-SACK and
//    shutdown timers fire) follows the `now` passed in. So a virtual clock
//    works for connection setup, clean transfers and timeouts, but loss
//    recovery wants `now` to follow the real clock.
#pragma once

#include "proto/sctp/association.hpp"

#include <cstddef>
#include <memory>

namespace duplex::proto::sctp {

/// A new association (state New) over usrsctp. Creating the first one in the
/// process initialises usrsctp. If the SCTP stack refuses the socket, the
/// association is returned in state Failed with a Failed event queued.
std::unique_ptr<Association> make_usrsctp_association(const AssociationConfig& config);

/// How many usrsctp associations are alive in this process (tests, stats).
std::size_t usrsctp_live_associations() noexcept;

/// True while usrsctp is initialised: from the first association until
/// usrsctp_release_library() succeeded.
bool usrsctp_initialised() noexcept;

/// Tears usrsctp down (usrsctp_finish(), which also joins its iterator
/// thread) if no association is alive; true when it is down. For the end of
/// a process or of a test binary: a later association initialises usrsctp
/// again, but without a working iterator thread (see above).
bool usrsctp_release_library();

}  // namespace duplex::proto::sctp
