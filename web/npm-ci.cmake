# cmake -P web/npm-ci.cmake: install web/'s pinned npm packages into DEPS_DIR
# with `npm ci`, from the lockfile alone. Skipped when the lockfile and
# package.json hash the same as at the last successful install, so touching
# them (a checkout, a rebase) does not reinstall. Run by the pg_web target.
#   -DSRC_DIR=web/ -DDEPS_DIR=<build>/web-deps -DNPM=/usr/bin/npm -DSTAMP=<file>

foreach(v SRC_DIR DEPS_DIR NPM STAMP)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "npm-ci.cmake: -D${v}=... is required")
  endif()
endforeach()

file(SHA256 "${SRC_DIR}/package-lock.json" lock_hash)
file(SHA256 "${SRC_DIR}/package.json" package_hash)
set(want "package-lock.json ${lock_hash}\npackage.json ${package_hash}\n")
set(hash_file "${DEPS_DIR}/installed.sha256")

set(have "")
if(EXISTS "${hash_file}" AND EXISTS "${DEPS_DIR}/node_modules/.package-lock.json")
  file(READ "${hash_file}" have)
endif()

if(have STREQUAL want)
  message(STATUS "pg_web: npm packages already installed from this lockfile")
else()
  file(REMOVE "${hash_file}")
  file(MAKE_DIRECTORY "${DEPS_DIR}")
  configure_file("${SRC_DIR}/package.json" "${DEPS_DIR}/package.json" COPYONLY)
  configure_file("${SRC_DIR}/package-lock.json" "${DEPS_DIR}/package-lock.json" COPYONLY)
  message(STATUS "pg_web: npm ci in ${DEPS_DIR}")
  # --ignore-scripts: no package code runs at install time. esbuild's
  # postinstall only swaps its launcher for the native binary; the launcher
  # finds the binary (@esbuild/<platform>) without it.
  execute_process(
    COMMAND "${NPM}" ci --no-audit --no-fund --ignore-scripts
    WORKING_DIRECTORY "${DEPS_DIR}"
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR
      "pg_web: `npm ci` failed (exit ${rc}) in ${DEPS_DIR}.\n"
      "The packages come from the npm registry (see `npm config get registry`): check the "
      "network or proxy settings. To build pixelgate without the browser viewer, configure "
      "with -DPG_WEB=OFF.")
  endif()
  file(WRITE "${hash_file}" "${want}")
endif()
file(TOUCH "${STAMP}")
