# The HTTP front end (libmicrohttpd) and `facerec serve`. Included from the
# top-level CMakeLists.txt after the facerec library and CLI targets exist.
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)

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
  src/http/server.c
  src/http/body.c
  src/http/json.c
  src/http/keys.c
  src/http/gallery.c
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
