// base/log.hpp: a minimal leveled log to stderr. The level comes from the
// DUPLEX_LOG environment variable (error|warn|info|debug; default warn),
// read once by the runtime; proto code only formats and hands lines here.
#pragma once

#include <sstream>
#include <string_view>

namespace duplex::base {

enum class LogLevel { Error = 0, Warn = 1, Info = 2, Debug = 3 };

LogLevel log_level() noexcept;
void set_log_level(LogLevel level) noexcept;
void log_line(LogLevel level, std::string_view line);

}  // namespace duplex::base

#define DUPLEX_LOG(level, expr)                                                     \
    do {                                                                            \
        if (static_cast<int>(::duplex::base::LogLevel::level) <=                    \
            static_cast<int>(::duplex::base::log_level())) {                        \
            std::ostringstream duplex_log_os_;                                      \
            duplex_log_os_ << expr;                                                 \
            ::duplex::base::log_line(::duplex::base::LogLevel::level, duplex_log_os_.str()); \
        }                                                                           \
    } while (0)
