# The browser viewer page (noVNC inside a small page of ours), built into
# ${CMAKE_BINARY_DIR}/web/ for the relay to serve. Included from the top-level
# CMakeLists.txt with include(web/web.cmake).
#
#   1. `npm ci` from web/package-lock.json into ${CMAKE_BINARY_DIR}/web-deps/
#      (never into the source tree), skipped while the lockfile's hash is the
#      same as at the last install;
#   2. esbuild (run by web/build.mjs) bundles web/src/app.js and noVNC into
#      one minified IIFE, app.js, with the collected licence comments in
#      app.js.LEGAL.txt;
#   3. index.html, app.css, THIRD-PARTY-NOTICES.txt and LICENSES/ are copied.
#
# Needs Node.js >= 18 and npm (tools/install-deps.sh installs them); the npm
# registry must be reachable the first time. -DPG_WEB=OFF builds without it.

option(PG_WEB "Build the browser viewer page (needs Node.js and npm)" ON)

if(PG_WEB)
  set(PG_WEB_SRC ${CMAKE_CURRENT_LIST_DIR})
  set(PG_WEB_DEPS ${CMAKE_BINARY_DIR}/web-deps)
  set(PG_WEB_OUT ${CMAKE_BINARY_DIR}/web)

  find_program(PG_NPM npm)
  find_program(PG_NODE NAMES node nodejs)
  if(NOT PG_NPM OR NOT PG_NODE)
    set(pg_missing)
    if(NOT PG_NODE)
      list(APPEND pg_missing "node")
    endif()
    if(NOT PG_NPM)
      list(APPEND pg_missing "npm")
    endif()
    list(JOIN pg_missing ", " pg_missing)
    message(FATAL_ERROR
      "The browser viewer (web/) needs Node.js and npm; not found: ${pg_missing}.\n"
      "Install them (Debian: `apt-get install nodejs npm`, or run tools/install-deps.sh), "
      "or configure with -DPG_WEB=OFF to build pixelgate without the browser viewer.")
  endif()
  execute_process(COMMAND ${PG_NODE} --version OUTPUT_VARIABLE pg_node_version
                  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE pg_node_rc)
  string(REGEX MATCH "^v([0-9]+)" pg_node_major "${pg_node_version}")
  if(NOT pg_node_rc EQUAL 0 OR NOT CMAKE_MATCH_1 OR CMAKE_MATCH_1 LESS 18)
    message(FATAL_ERROR
      "The browser viewer (web/) needs Node.js 18 or newer; ${PG_NODE} says "
      "'${pg_node_version}'. Install a newer Node.js or configure with -DPG_WEB=OFF.")
  endif()
  message(STATUS "Browser viewer: Node.js ${pg_node_version}, npm ${PG_NPM}")

  # 1. The pinned packages.
  set(pg_web_installed ${PG_WEB_DEPS}/npm-ci.stamp)
  add_custom_command(
    OUTPUT ${pg_web_installed}
    COMMAND ${CMAKE_COMMAND} -DSRC_DIR=${PG_WEB_SRC} -DDEPS_DIR=${PG_WEB_DEPS}
            -DNPM=${PG_NPM} -DSTAMP=${pg_web_installed} -P ${PG_WEB_SRC}/npm-ci.cmake
    DEPENDS ${PG_WEB_SRC}/package.json ${PG_WEB_SRC}/package-lock.json ${PG_WEB_SRC}/npm-ci.cmake
    COMMENT "Installing the browser viewer's npm packages (npm ci, cached by lockfile hash)"
    USES_TERMINAL
    VERBATIM)

  # 2. The bundle: esbuild through web/build.mjs, which also works around the
  # top-level await in noVNC 1.6.0's npm package (see there). node_modules is
  # outside the source tree; build.mjs points esbuild at it.
  file(GLOB pg_web_js CONFIGURE_DEPENDS ${PG_WEB_SRC}/src/*.js)
  add_custom_command(
    OUTPUT ${PG_WEB_OUT}/app.js ${PG_WEB_OUT}/app.js.LEGAL.txt
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PG_WEB_OUT}
    COMMAND ${PG_NODE} ${PG_WEB_SRC}/build.mjs ${PG_WEB_DEPS}/node_modules
            ${PG_WEB_SRC}/src/app.js ${PG_WEB_OUT}/app.js
    COMMAND ${CMAKE_COMMAND} -E touch ${PG_WEB_OUT}/app.js.LEGAL.txt
    DEPENDS ${pg_web_installed} ${pg_web_js} ${PG_WEB_SRC}/build.mjs
    COMMENT "Bundling the browser viewer (esbuild): web/app.js"
    VERBATIM)

  # 3. The page, its style and the licence texts.
  set(pg_web_static
    ${PG_WEB_OUT}/index.html
    ${PG_WEB_OUT}/app.css
    ${PG_WEB_OUT}/THIRD-PARTY-NOTICES.txt
    ${PG_WEB_OUT}/LICENSES/MPL-2.0.txt
    ${PG_WEB_OUT}/LICENSES/noVNC-LICENSE.txt
    ${PG_WEB_OUT}/LICENSES/noVNC-AUTHORS.txt
    ${PG_WEB_OUT}/LICENSES/noVNC-des-NOTICE.txt
    ${PG_WEB_OUT}/LICENSES/BSD-2-Clause.txt
    ${PG_WEB_OUT}/LICENSES/BSD-3-Clause.txt
    ${PG_WEB_OUT}/LICENSES/pako-LICENSE.txt)
  add_custom_command(
    OUTPUT ${pg_web_static}
    COMMAND ${CMAKE_COMMAND} -DSRC_DIR=${PG_WEB_SRC}
            -DNOVNC_DIR=${PG_WEB_DEPS}/node_modules/@novnc/novnc -DOUT_DIR=${PG_WEB_OUT}
            -P ${PG_WEB_SRC}/assemble.cmake
    COMMAND ${CMAKE_COMMAND} -E touch ${pg_web_static}
    DEPENDS ${pg_web_installed} ${PG_WEB_SRC}/assemble.cmake ${PG_WEB_SRC}/src/index.html
            ${PG_WEB_SRC}/src/app.css ${PG_WEB_SRC}/THIRD-PARTY-NOTICES.txt
            ${PG_WEB_SRC}/licenses/pako-LICENSE.txt
    COMMENT "Copying the browser viewer's page and licence texts into web/"
    VERBATIM)

  add_custom_target(pg_web ALL DEPENDS ${PG_WEB_OUT}/app.js ${pg_web_static})

  install(DIRECTORY ${PG_WEB_OUT}/ DESTINATION ${PG_INSTALL_DATADIR}/web)
endif()
