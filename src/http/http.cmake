# The HTTP front end (libmicrohttpd) and `facerec serve`. Included from the
# top-level CMakeLists.txt after the facerec library and CLI targets exist.
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)

add_library(facerec_http OBJECT
  src/http/server.c
  src/http/body.c
  src/http/json.c
  src/http/keys.c
  src/http/gallery.c
  src/http/jobs.c
  src/http/metrics.c
)
target_include_directories(facerec_http PUBLIC include PRIVATE src)
target_link_libraries(facerec_http PUBLIC PkgConfig::MHD PkgConfig::CJSON pthread)
target_compile_definitions(facerec_http PRIVATE _GNU_SOURCE)
set_target_properties(facerec_http PROPERTIES POSITION_INDEPENDENT_CODE ON)

target_sources(facerec PRIVATE $<TARGET_OBJECTS:facerec_http>)
target_link_libraries(facerec PUBLIC PkgConfig::MHD)

target_sources(facerec-bin PRIVATE tools/cli/serve.c)
