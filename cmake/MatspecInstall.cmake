# `cmake --install BUILD --prefix P` lays out matspec as a package:
#   P/lib/libmatspec.so*                      the C++ API and the C ABI (target matspec::matspec)
#   P/include/matspec/*.h                     the public headers (they include absl/status)
#   P/lib/cmake/matspec/matspecConfig*.cmake  find_package(matspec); finds absl for the consumer
#   P/lib/pkgconfig/matspec.pc                pkg-config matspec (Requires: absl_status absl_statusor)
#   P/bin/matspec                             the CLI (with bench and tune; libmatspec_cuda.so when built)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MATSPEC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/matspec)

install(TARGETS matspec_shared EXPORT matspecTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/decoding/include/matspec DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS matspec_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET matspec_cuda)
  # bin/matspec finds it in ../lib (engine/backend_registry.cc).
  install(TARGETS matspec_cuda LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()

install(EXPORT matspecTargets NAMESPACE matspec:: FILE matspecTargets.cmake DESTINATION ${MATSPEC_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/matspecConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/matspecConfig.cmake INSTALL_DESTINATION ${MATSPEC_CMAKE_DIR})
# 0.x: a minor version may break the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/matspecConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/matspecConfig.cmake ${PROJECT_BINARY_DIR}/matspecConfigVersion.cmake
        DESTINATION ${MATSPEC_CMAKE_DIR})

# The .pc file finds the prefix from its own place, so `--prefix` at install time works.
file(RELATIVE_PATH MATSPEC_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(${PROJECT_SOURCE_DIR}/cmake/matspec.pc.in ${PROJECT_BINARY_DIR}/matspec.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/matspec.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
