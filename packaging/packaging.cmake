# The Debian package (CPack's DEB generator), its systemd units, maintainer
# scripts and example configuration. Included from the top-level CMakeLists.txt.
#
#   cmake -S . -B build -G Ninja && cmake --build build
#   cd build && cpack -G DEB        (or: cmake --build build --target package)
#
# gives build/pixelgate_<version>_amd64.deb. Depends are computed by
# dpkg-shlibdeps (dpkg-dev) from the installed programs; file owners in the
# package are root; the maintainer scripts create the user pixelgate and set the
# modes that need it (packaging/debian/postinst). docs/deployment.md says what
# goes where and why.

set(PG_PKG_DIR ${CMAKE_CURRENT_LIST_DIR})

# systemd units (Debian 12 keeps package units in /lib/systemd/system), the
# example configuration, a conffile (packaging/debian/conffiles) of mode 0640 that
# postinst makes root:pixelgate (dpkg-statoverride), and /etc/pixelgate/hosts/ for
# browser host settings, which only root (systemd) reads. These paths are
# absolute and the units name /usr/bin: they are installed only for the prefix
# /usr, which is what the package uses. `cmake --install` to another prefix
# (/usr/local by default) leaves /etc and /lib alone unless
# -DPG_INSTALL_SYSTEM_FILES=ON.
option(PG_INSTALL_SYSTEM_FILES
       "install /etc/pixelgate and the systemd units whatever the prefix" OFF)
set(PG_SYSTEMD_UNITDIR /lib/systemd/system CACHE PATH "where the systemd units are installed")
install(CODE "
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\" OR ${PG_INSTALL_SYSTEM_FILES})
    file(INSTALL DESTINATION \"${PG_SYSTEMD_UNITDIR}\" TYPE FILE
         FILES \"${PG_PKG_DIR}/pixelgate.service\" \"${PG_PKG_DIR}/pixelgate-browser-host@.service\")
    file(INSTALL DESTINATION /etc/pixelgate TYPE FILE
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
         FILES \"${PG_PKG_DIR}/pixelgate.conf\")
    file(MAKE_DIRECTORY \"\$ENV{DESTDIR}/etc/pixelgate/hosts\")
    file(CHMOD \"\$ENV{DESTDIR}/etc/pixelgate/hosts\"
         PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
  else()
    message(STATUS \"Not installing /etc/pixelgate and the systemd units: the prefix is \"
                   \"\${CMAKE_INSTALL_PREFIX}, not /usr (-DPG_INSTALL_SYSTEM_FILES=ON to force)\")
  endif()")
install(FILES ${PG_PKG_DIR}/pixelgate.conf ${PG_PKG_DIR}/browser-host.conf
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

set(PG_PACKAGE_MAINTAINER "pixelgate project <pixelgate@example.org>" CACHE STRING
    "the Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pixelgate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "pixelgate project")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "screen-transfer isolation relay (VNC, noVNC)")
set(CPACK_PACKAGE_DESCRIPTION
    "pixelgate lets staff on an isolated network use a web browser that runs on the
Internet side while nothing but pixels crosses the boundary: every framebuffer
update is decoded and encoded anew, clipboard text is checked against a policy,
and everything else is dropped and audited.
.
This package holds the relay (pixelgate), its sandboxed upstream worker, the
browser viewer page (noVNC), pixelgate-passwd, pixelgate-audit, the browser host
launcher pg-browser-host and their systemd units.")
set(CPACK_PACKAGE_CONTACT ${PG_PACKAGE_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${PG_PACKAGE_MAINTAINER})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Beyond the libraries: postinst's adduser, and procps for the unit's
# /bin/kill (ExecReload), which a minimal Debian lacks. The relay's font for warnings drawn
# into the picture is recommended. The browser host's programs are only
# suggested: a relay host, on its own segment, should not get Chromium and an
# X server with apt's default of installing Recommends; a browser host machine
# installs them explicitly (docs/deployment.md). ffmpeg, which only
# `pixelgate-replay video` runs, is suggested for the same reason.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, procps")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "fonts-noto-cjk")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS
    "tigervnc-standalone-server, tigervnc-tools, chromium, xauth, x11-utils, xdotool, xvfb, x11vnc, fcitx5, fcitx5-mozc, fcitx5-frontend-gtk3, dbus-daemon, locales, x11-xkb-utils, ffmpeg")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PG_PKG_DIR}/debian/postinst ${PG_PKG_DIR}/debian/prerm ${PG_PKG_DIR}/debian/postrm
    ${PG_PKG_DIR}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES TRUE)
include(CPack)
