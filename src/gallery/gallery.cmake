# The people gallery service (store + per-user search matrices) and the CLI
# verbs over it. Included from the top-level CMakeLists.txt after the
# facerec library, the CLI and the store exist.
add_library(facerec_gallery OBJECT
  src/gallery/gallery.c
  src/gallery/thumb.c
  src/gallery/indexer.c
)
target_include_directories(facerec_gallery PUBLIC include PRIVATE src)
target_link_libraries(facerec_gallery PUBLIC PkgConfig::TURBOJPEG pthread)
target_compile_definitions(facerec_gallery PRIVATE _GNU_SOURCE)
set_target_properties(facerec_gallery PROPERTIES POSITION_INDEPENDENT_CODE ON)

target_sources(facerec PRIVATE $<TARGET_OBJECTS:facerec_gallery>)
target_sources(facerec-bin PRIVATE tools/cli/people.c)
