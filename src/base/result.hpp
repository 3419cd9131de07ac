// base/result.hpp: the internal name of duplex::Result<T> (public, in
// <duplex/result.hpp>).
#pragma once

#include <duplex/result.hpp>

namespace duplex::base {

using duplex::Errc;
using duplex::Result;
using duplex::Status;

}  // namespace duplex::base
