# The durable store (SQLite, OpenSSL's libcrypto for key hashes and
# randomness). Included from the top-level CMakeLists.txt after the facerec
# library exists.
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto)

add_library(facerec_store OBJECT
  src/store/store.c
  src/store/store-api.c
  src/store/store-common.c
  src/store/store-users.c
  src/store/schema.c
  src/store/people.c
  src/store/queue.c
)
target_include_directories(facerec_store PUBLIC include PRIVATE src)
target_link_libraries(facerec_store PUBLIC PkgConfig::SQLITE3 PkgConfig::LIBCRYPTO pthread)
target_compile_definitions(facerec_store PRIVATE _GNU_SOURCE)
set_target_properties(facerec_store PROPERTIES POSITION_INDEPENDENT_CODE ON)

# PostgreSQL (libpq): the shared store for several nodes. Optional: a build
# without it answers a postgresql:// data setting with FR_ERR_UNSUPPORTED.
pkg_check_modules(LIBPQ IMPORTED_TARGET libpq)
if(LIBPQ_FOUND)
  target_sources(facerec_store PRIVATE src/store/store-pg.c src/store/store-pg-schema.c
    src/store/store-pg-gallery.c src/store/store-pg-queue.c)
  target_compile_definitions(facerec_store PUBLIC FR_HAVE_LIBPQ=1)
  target_link_libraries(facerec_store PUBLIC PkgConfig::LIBPQ)
  target_link_libraries(facerec PUBLIC PkgConfig::LIBPQ)
  target_compile_definitions(facerec PUBLIC FR_HAVE_LIBPQ=1)
else()
  message(WARNING "libpq not found: the PostgreSQL store is left out")
endif()

target_sources(facerec PRIVATE $<TARGET_OBJECTS:facerec_store>)
target_link_libraries(facerec PUBLIC PkgConfig::SQLITE3 PkgConfig::LIBCRYPTO)
target_sources(facerec-bin PRIVATE tools/cli/user.c)
