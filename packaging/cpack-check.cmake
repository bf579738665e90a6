# packaging/cpack-check.cmake - read by cpack before it builds a package.
if(CPACK_GENERATOR STREQUAL "DEB" AND NOT CPACK_VG_PACKAGE_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR
          "the Debian package needs a build configured with "
          "-DCMAKE_INSTALL_PREFIX=/usr (this one has ${CPACK_VG_PACKAGE_PREFIX})")
endif()
