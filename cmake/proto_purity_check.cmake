# The sans-IO rule (DESIGN.md), checked: nothing under src/proto includes a
# socket, epoll, thread or mutex header, nor reads a clock. <chrono> types are
# fine; only now() is refused. Headers of pure third-party libraries that a
# protocol needs are the one exception, listed here. And nothing under
# src/runtime includes src/proto (layers point one way).
#   cmake -DROOT=<source dir> -P proto_purity_check.cmake
set(allowed_third_party "usrsctp.h")

file(GLOB_RECURSE files "${ROOT}/src/proto/*.hpp" "${ROOT}/src/proto/*.cpp" "${ROOT}/src/proto/*.h")
if(NOT files)
  message(FATAL_ERROR "proto purity: no files found under ${ROOT}/src/proto")
endif()
set(forbidden_headers
  "sys/socket\\.h" "sys/epoll\\.h" "sys/select\\.h" "sys/poll\\.h" "poll\\.h" "sys/eventfd\\.h" "sys/timerfd\\.h"
  "netinet/[a-z_]+\\.h" "arpa/inet\\.h" "netdb\\.h" "unistd\\.h" "fcntl\\.h" "pthread\\.h" "signal\\.h" "csignal"
  "thread" "mutex" "shared_mutex" "condition_variable" "future" "semaphore" "stop_token" "ctime" "time\\.h"
  "sys/time\\.h" "fstream" "iostream" "cstdio" "stdio\\.h")
set(violations "")
foreach(f IN LISTS files)
  file(STRINGS "${f}" lines)
  set(n 0)
  foreach(line IN LISTS lines)
    math(EXPR n "${n} + 1")
    if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
      set(h "${CMAKE_MATCH_1}")
      list(FIND allowed_third_party "${h}" ok)
      if(ok EQUAL -1)
        foreach(bad IN LISTS forbidden_headers)
          if(h MATCHES "^${bad}$")
            string(APPEND violations "${f}:${n}: includes <${h}>\n")
          endif()
        endforeach()
      endif()
    endif()
    # Clock reads and IO/sleep calls. Names that are also ordinary member
    # functions of ours (send, read, write, close) count only when called as
    # the global syscall, "::send(" and the like.
    if(line MATCHES "(steady_clock|system_clock|high_resolution_clock|utc_clock|file_clock|Clock)::now[ \t]*\\(" OR
       line MATCHES "(^|[^A-Za-z0-9_])(recvfrom|sendto|recvmsg|sendmsg|epoll_wait|epoll_ctl|usleep|nanosleep|sleep_for|sleep_until|clock_gettime|gettimeofday|getaddrinfo)[ \t]*\\(" OR
       line MATCHES "(^|[^A-Za-z0-9_]):: *(send|recv|read|write|socket|connect|accept|accept4|close|time|poll|select)[ \t]*\\(")
      if(NOT line MATCHES "^[ \t]*//")
        string(REPLACE ";" "," shown "${line}")  # CMake lists split on ';'
        string(APPEND violations "${f}:${n}: ${shown}\n")
      endif()
    endif()
  endforeach()
endforeach()
# And the other way round: the runtime moves bytes and knows no protocol's
# rules, so nothing under src/runtime includes a header of src/proto.
file(GLOB_RECURSE runtime_files "${ROOT}/src/runtime/*.hpp" "${ROOT}/src/runtime/*.cpp")
foreach(f IN LISTS runtime_files)
  file(STRINGS "${f}" lines)
  set(n 0)
  foreach(line IN LISTS lines)
    math(EXPR n "${n} + 1")
    if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*\"(proto/[^\"]+)\"")
      string(APPEND violations "${f}:${n}: the runtime includes \"${CMAKE_MATCH_1}\"\n")
    endif()
  endforeach()
endforeach()
if(violations)
  # One unwrapped line per violation (a FATAL_ERROR message gets re-wrapped).
  string(REPLACE "\n" ";" lines "${violations}")
  foreach(v IN LISTS lines)
    if(v)
      message(STATUS "proto purity violation: ${v}")
    endif()
  endforeach()
  message(FATAL_ERROR "src/proto must stay free of IO, threads and clocks (DESIGN.md); see the lines above")
endif()
list(LENGTH files count)
message(STATUS "proto purity: ${count} files checked, no IO, thread or clock use")
