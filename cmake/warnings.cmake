# Warnings every target of ours is built with (-Werror in CI via DUPLEX_WERROR).
add_library(duplex_warnings INTERFACE)
target_compile_options(duplex_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
  -Wconversion -Wsign-conversion -Wno-sign-conversion
  $<$<BOOL:${DUPLEX_WERROR}>:-Werror>)
