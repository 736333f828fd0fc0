# The durable store (SQLite, OpenSSL's libcrypto for key hashes and
# randomness). Included from the top-level CMakeLists.txt after the facerec
# library exists.
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto)

add_library(facerec_store OBJECT
  src/store/store.c
  src/store/schema.c
  src/store/people.c
)
target_include_directories(facerec_store PUBLIC include PRIVATE src)
target_link_libraries(facerec_store PUBLIC PkgConfig::SQLITE3 PkgConfig::LIBCRYPTO pthread)
target_compile_definitions(facerec_store PRIVATE _GNU_SOURCE)
set_target_properties(facerec_store PROPERTIES POSITION_INDEPENDENT_CODE ON)

target_sources(facerec PRIVATE $<TARGET_OBJECTS:facerec_store>)
target_link_libraries(facerec PUBLIC PkgConfig::SQLITE3 PkgConfig::LIBCRYPTO)
target_sources(facerec-bin PRIVATE tools/cli/user.c)
