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

add_library(facerec_http OBJECT
  ${FR_OPENAPI_C}
  src/http/server.c
  src/http/conn.c
  src/http/body.c
  src/http/json.c
  src/http/keys.c
  src/http/gallery.c
  src/http/metrics.c
)
target_include_directories(facerec_http PUBLIC include PRIVATE src)
target_link_libraries(facerec_http PUBLIC PkgConfig::MHD PkgConfig::CJSON pthread)
target_compile_definitions(facerec_http PRIVATE _GNU_SOURCE)
set_target_properties(facerec_http PROPERTIES POSITION_INDEPENDENT_CODE ON)

target_sources(facerec PRIVATE $<TARGET_OBJECTS:facerec_http>)
target_link_libraries(facerec PUBLIC PkgConfig::MHD)

target_sources(facerec-bin PRIVATE tools/cli/serve.c)
