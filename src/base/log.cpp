#include "base/log.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace duplex::base {

namespace {
LogLevel initial_level() {
    const char* env = std::getenv("DUPLEX_LOG");
    if (env == nullptr) return LogLevel::Warn;
    if (std::strcmp(env, "error") == 0) return LogLevel::Error;
    if (std::strcmp(env, "info") == 0) return LogLevel::Info;
    if (std::strcmp(env, "debug") == 0) return LogLevel::Debug;
    return LogLevel::Warn;
}
std::atomic<int>& level_storage() {
    static std::atomic<int> level{static_cast<int>(initial_level())};
    return level;
}
}  // namespace

LogLevel log_level() noexcept { return static_cast<LogLevel>(level_storage().load(std::memory_order_relaxed)); }
void set_log_level(LogLevel level) noexcept { level_storage().store(static_cast<int>(level)); }

void log_line(LogLevel level, std::string_view line) {
    static constexpr const char* kNames[] = {"error", "warn", "info", "debug"};
    std::string out = "duplex ";
    out += kNames[static_cast<int>(level)];
    out += ": ";
    out += line;
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stderr);
}

}  // namespace duplex::base
