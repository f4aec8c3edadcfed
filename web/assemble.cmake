# cmake -P web/assemble.cmake: put the page's static files and the licence texts
# of what app.js bundles into OUT_DIR (the folder the relay serves).
#   -DSRC_DIR=web/ -DNOVNC_DIR=<deps>/node_modules/@novnc/novnc -DOUT_DIR=<build>/web

foreach(v SRC_DIR NOVNC_DIR OUT_DIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "assemble.cmake: -D${v}=... is required")
  endif()
endforeach()

file(MAKE_DIRECTORY "${OUT_DIR}/LICENSES")
foreach(pair
    "src/index.html:index.html"
    "src/app.css:app.css"
    "THIRD-PARTY-NOTICES.txt:THIRD-PARTY-NOTICES.txt"
    "licenses/pako-LICENSE.txt:LICENSES/pako-LICENSE.txt")
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 from)
  list(GET pair 1 to)
  configure_file("${SRC_DIR}/${from}" "${OUT_DIR}/${to}" COPYONLY)
endforeach()

foreach(pair
    "LICENSE.txt:noVNC-LICENSE.txt"
    "AUTHORS:noVNC-AUTHORS.txt"
    "docs/LICENSE.MPL-2.0:MPL-2.0.txt"
    "docs/LICENSE.BSD-2-Clause:BSD-2-Clause.txt"
    "docs/LICENSE.BSD-3-Clause:BSD-3-Clause.txt")
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 from)
  list(GET pair 1 to)
  if(NOT EXISTS "${NOVNC_DIR}/${from}")
    message(FATAL_ERROR "pg_web: ${NOVNC_DIR}/${from} is missing: is @novnc/novnc installed?")
  endif()
  configure_file("${NOVNC_DIR}/${from}" "${OUT_DIR}/LICENSES/${to}" COPYONLY)
endforeach()

# The DES code's notices live only in its source header; keep them verbatim.
file(READ "${NOVNC_DIR}/lib/crypto/des.js" des)
string(FIND "${des}" "Ported from Flashlight VNC" begin)
if(begin LESS 0)
  message(FATAL_ERROR "pg_web: the notice header of noVNC's lib/crypto/des.js was not found")
endif()
string(SUBSTRING "${des}" ${begin} -1 rest)
string(FIND "${rest}" "*/" end)
string(SUBSTRING "${rest}" 0 ${end} notice)
set(text "The header of noVNC 1.6.0's DES code (lib/crypto/des.js in the npm package,\ncore/des.js in the noVNC repository), verbatim:\n\n/*\n * ${notice}*/\n")
set(old "")
if(EXISTS "${OUT_DIR}/LICENSES/noVNC-des-NOTICE.txt")
  file(READ "${OUT_DIR}/LICENSES/noVNC-des-NOTICE.txt" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT_DIR}/LICENSES/noVNC-des-NOTICE.txt" "${text}")
endif()
