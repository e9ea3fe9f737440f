# Install rules and the Debian package (CPack DEB), included by the top-level CMakeLists.txt.
#
#   cmake --build build && (cd build && cpack -G DEB)      -> build/gilstat_<version>_amd64.deb
#
# The package installs under /usr (CPACK_PACKAGING_INSTALL_PREFIX), so gilstatd lands where the
# unit's ExecStart expects it: /usr/sbin/gilstatd. Plain `cmake --install` uses
# CMAKE_INSTALL_PREFIX (default /usr/local): use `--prefix /usr` there too, or the unit will not
# find the daemon. The configuration is installed to /etc/gilstat whatever the prefix.
# tests/ops/check_package.sh builds the package and checks it.
if(GILSTAT_RUNTIME_ONLY)
  return()  # no daemon, nothing to install
endif()

include(GNUInstallDirs)

set(GILSTAT_CONFDIR /etc/gilstat)
set(GILSTAT_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/gilstat)

install(TARGETS gilstatd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS gilstat RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/systemd/gilstatd.service DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/gilstatd.yml DESTINATION ${GILSTAT_CONFDIR})
# The unit's Documentation= points at SERVICE.md and METRICS.md here.
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${GILSTAT_DOCDIR})
foreach(doc METRICS SERVICE OPERATIONS CLI PROBES PYTHON RUNTIME)
  if(EXISTS ${PROJECT_SOURCE_DIR}/docs/${doc}.md)
    install(FILES ${PROJECT_SOURCE_DIR}/docs/${doc}.md DESTINATION ${GILSTAT_DOCDIR})
  endif()
endforeach()
# Dashboard, Prometheus rules and configuration, Kubernetes manifest.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/deploy/ DESTINATION ${GILSTAT_DOCDIR}/examples)

# --- Debian package --------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME gilstat)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR gilstat)
set(GILSTAT_DEB_MAINTAINER "gilstat maintainers <gilstat@localhost>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${GILSTAT_DEB_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # gilstat_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Synopsis (first line of Description); the extended description follows.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "lock and GIL contention exporter for Prometheus")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "gilstatd measures how long programs wait for locks, above all
for the global interpreter lock (GIL) of Python, with eBPF uprobes, and
exports counts and histograms as Prometheus metrics. gilstat is the
command-line tool for one-off measurements. Includes a hardened systemd unit,
a Grafana dashboard and Prometheus recording and alerting rules (in
/usr/share/doc/gilstat/examples).")
# Library dependencies from what the binaries link (dpkg-shlibdeps, from dpkg-dev); systemd
# for the unit's features (Type=notify, DynamicUser=, ...).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd")

# Maintainer scripts: the configuration is a conffile (kept and merged by dpkg on upgrade); the
# service is not enabled on install (docs/OPERATIONS.md: `systemctl enable --now gilstatd`), is
# restarted on upgrade when it runs, and is stopped and disabled on removal. Without a running
# systemd (container image builds) nothing is done.
set(pkgdir ${CMAKE_BINARY_DIR}/packaging)
file(WRITE ${pkgdir}/conffiles "${GILSTAT_CONFDIR}/gilstatd.yml\n")
file(WRITE ${pkgdir}/postinst [=[#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null || true
  if [ -n "$2" ]; then
    systemctl try-restart gilstatd.service >/dev/null || true
  fi
fi
]=])
file(WRITE ${pkgdir}/prerm [=[#!/bin/sh
set -e
if [ "$1" = remove ]; then
  if [ -d /run/systemd/system ]; then
    systemctl stop gilstatd.service >/dev/null 2>&1 || true
  fi
  systemctl --no-reload disable gilstatd.service >/dev/null 2>&1 || true
fi
]=])
file(WRITE ${pkgdir}/postrm [=[#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null || true
fi
]=])
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${pkgdir}/conffiles ${pkgdir}/postinst ${pkgdir}/prerm ${pkgdir}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)  # scripts 0755, conffiles 0644

include(CPack)
