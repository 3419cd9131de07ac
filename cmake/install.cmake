# Installing duplex: headers, the library, a CMake package (find_package(duplex))
# and a pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS duplex EXPORT duplexTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/duplex DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT duplexTargets NAMESPACE duplex:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/duplex)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/duplexConfig.cmake.in
  ${PROJECT_BINARY_DIR}/duplexConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/duplex)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/duplexConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/duplexConfig.cmake ${PROJECT_BINARY_DIR}/duplexConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/duplex)

configure_file(${PROJECT_SOURCE_DIR}/cmake/duplex.pc.in ${PROJECT_BINARY_DIR}/duplex.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/duplex.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
