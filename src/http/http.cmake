# The HTTP front end (libmicrohttpd) and `facerec serve`. Included from the
# top-level CMakeLists.txt after the facerec library and CLI targets exist.
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)

# GET /openapi.json answers with docs/openapi.yaml, converted to JSON here
# at build time by node with the pinned YAML parser of tests/contract/ and
# compiled in: the binary serves it offline. The packages come from
# scripts/contract-deps.sh (npm ci; a no-op when they are current), which
# configure runs when they are missing.
find_program(FR_NODE node REQUIRED)
set(FR_CONTRACT_DIR ${PROJECT_SOURCE_DIR}/tests/contract)
if(NOT EXISTS ${FR_CONTRACT_DIR}/node_modules/yaml/package.json)
  message(STATUS "tests/contract/node_modules missing: running scripts/contract-deps.sh")
  execute_process(COMMAND ${PROJECT_SOURCE_DIR}/scripts/contract-deps.sh RESULT_VARIABLE fr_contract_rc)
  if(NOT fr_contract_rc EQUAL 0)
    message(FATAL_ERROR "scripts/contract-deps.sh failed: the build needs its YAML parser for docs/openapi.yaml")
  endif()
endif()
set(FR_OPENAPI_C ${PROJECT_BINARY_DIR}/generated/openapi-spec.c)
set(FR_OPENAPI_JSON ${PROJECT_BINARY_DIR}/openapi.json)
add_custom_command(
  OUTPUT ${FR_OPENAPI_C} ${FR_OPENAPI_JSON}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/generated
  COMMAND ${FR_NODE} ${FR_CONTRACT_DIR}/spec-to-c.js ${PROJECT_SOURCE_DIR}/docs/openapi.yaml ${FR_OPENAPI_C}
          ${FR_OPENAPI_JSON}
  DEPENDS ${PROJECT_SOURCE_DIR}/docs/openapi.yaml ${FR_CONTRACT_DIR}/spec-to-c.js ${FR_CONTRACT_DIR}/spec.js
  COMMENT "docs/openapi.yaml -> openapi.json, compiled in"
  VERBATIM)

# The web app (web/) is compiled into the binary at build time, with the npm
# libraries it uses (uPlot), which scripts/fetch-web.sh installs from
# web/package-lock.json and checks against scripts/web.sha256. When they are
# missing, configuring runs that script once (it needs the npm registry);
# -DFACEREC_WEB=OFF builds a server without the app ("/" is then 404).
option(FACEREC_WEB "Compile the web app (web/) into facerec serve" ON)
set(FR_WEB_NPM ${PROJECT_SOURCE_DIR}/web/node_modules)
set(FR_WEB_FILES "")
set(FR_WEB_DEPENDS "")
if(FACEREC_WEB)
  set(FR_WEB_VENDOR ${FR_WEB_NPM}/uplot/dist/uPlot.iife.min.js ${FR_WEB_NPM}/uplot/dist/uPlot.min.css)
  set(FR_WEB_MISSING OFF)
  foreach(f IN LISTS FR_WEB_VENDOR)
    if(NOT EXISTS ${f})
      set(FR_WEB_MISSING ON)
    endif()
  endforeach()
  if(FR_WEB_MISSING)
    message(STATUS "web app: npm libraries missing; running scripts/fetch-web.sh --app")
    execute_process(COMMAND ${PROJECT_SOURCE_DIR}/scripts/fetch-web.sh --app RESULT_VARIABLE FR_WEB_RC)
    if(NOT FR_WEB_RC EQUAL 0)
      message(FATAL_ERROR "The web app needs uPlot from npm and scripts/fetch-web.sh could not install it "
        "(see above; it needs npm and the npm registry once). Fix that and configure again, "
        "or configure with -DFACEREC_WEB=OFF to build the server without its web app.")
    endif()
  endif()
  file(GLOB FR_WEB_APP CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/web/*.html ${PROJECT_SOURCE_DIR}/web/*.css
    ${PROJECT_SOURCE_DIR}/web/*.js ${PROJECT_SOURCE_DIR}/web/*.svg)
  foreach(f IN LISTS FR_WEB_APP)
    get_filename_component(n ${f} NAME)
    list(APPEND FR_WEB_FILES "/${n}=${f}")
  endforeach()
  foreach(f IN LISTS FR_WEB_VENDOR)
    get_filename_component(n ${f} NAME)
    list(APPEND FR_WEB_FILES "/vendor/${n}=${f}")
  endforeach()
  set(FR_WEB_DEPENDS ${FR_WEB_APP} ${FR_WEB_VENDOR})
endif()
string(REPLACE ";" "|" FR_WEB_FILES_ARG "${FR_WEB_FILES}")
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/web-assets.c
  COMMAND ${CMAKE_COMMAND} -DOUT=${CMAKE_BINARY_DIR}/web-assets.c "-DFILES=${FR_WEB_FILES_ARG}"
    -DSUMS=${PROJECT_SOURCE_DIR}/scripts/web.sha256 -DSUMROOT=${FR_WEB_NPM}
    -P ${PROJECT_SOURCE_DIR}/src/http/embed-web.cmake
  DEPENDS ${FR_WEB_DEPENDS} ${PROJECT_SOURCE_DIR}/src/http/embed-web.cmake ${PROJECT_SOURCE_DIR}/scripts/web.sha256
  COMMENT "Embedding the web app"
  VERBATIM)

add_library(facerec_http OBJECT
  ${FR_OPENAPI_C}
  src/http/server.c
  src/http/reply.c
  src/http/routes.c
  src/http/routes-detect.c
  src/http/routes-gallery.c
  src/http/routes-jobs.c
  src/http/status.c
  src/http/conn.c
  src/http/body.c
  src/http/json.c
  src/http/keys.c
  src/http/metrics.c
  src/http/web.c
  ${CMAKE_BINARY_DIR}/web-assets.c
)
target_include_directories(facerec_http PUBLIC include PRIVATE src)
target_link_libraries(facerec_http PUBLIC PkgConfig::MHD PkgConfig::CJSON pthread)
target_compile_definitions(facerec_http PRIVATE _GNU_SOURCE)
set_target_properties(facerec_http PROPERTIES POSITION_INDEPENDENT_CODE ON)

target_sources(facerec PRIVATE $<TARGET_OBJECTS:facerec_http>)
target_link_libraries(facerec PUBLIC PkgConfig::MHD)

target_sources(facerec-bin PRIVATE tools/cli/serve.c)
