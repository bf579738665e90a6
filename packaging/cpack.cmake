# packaging/cpack.cmake - the Debian package, built with `cpack -G DEB` in a
# build tree configured with -DCMAKE_INSTALL_PREFIX=/usr (scripts/package.sh
# does both).
#
# What `cmake --install` puts in place is the package's content; the
# maintainer scripts (packaging/deb/) add what a file list cannot: the
# system user, its state folder, and the systemd unit's enablement.

set(CPACK_PACKAGE_NAME villagemetricsd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "village indicators collector and exporter for Prometheus and InfluxDB")
set(CPACK_PACKAGE_CONTACT "villagemetrics maintainers <root@localhost>"
    CACHE STRING "The Maintainer: field of the package")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
# The configuration's destination is absolute (/etc): staged under DESTDIR
# like everything else.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The long description; cpack puts the summary above it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "villagemetricsd reads village indicators (safe water, roads, mobile
signal, power, incomes, poverty) from the files county offices and cadres
export, checks each value against a catalog, serves them on /metrics, and
sends them to InfluxDB and Prometheus remote write through an on-disk
journal. It runs as a hardened systemd service under the user
villagemetrics.")
# The libraries by dpkg-shlibdeps (libuv1, libcurl4, libzip4, libexpat1,
# libfreexl1, ... as the binary links them); adduser for the postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")

configure_file(${CMAKE_SOURCE_DIR}/packaging/deb/conffiles.in
               ${CMAKE_BINARY_DIR}/packaging/deb/conffiles @ONLY)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/packaging/deb/conffiles
    ${CMAKE_SOURCE_DIR}/packaging/deb/postinst
    ${CMAKE_SOURCE_DIR}/packaging/deb/prerm
    ${CMAKE_SOURCE_DIR}/packaging/deb/postrm)
# 0644 for conffiles, 0755 for the scripts, whatever the checkout's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# The maintainer scripts and the conffiles name /etc and /usr: a package of
# a build for another prefix would be broken, so cpack refuses it.
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_SOURCE_DIR}/packaging/cpack-check.cmake)
set(CPACK_VG_PACKAGE_PREFIX ${CMAKE_INSTALL_PREFIX})

include(CPack)
