# Install rules by component, used by packaging/build-deb.sh (one staging
# tree per Debian package) and packaging/gpu-bundle.sh:
#   main   the facerec program (CLI and server)
#   cuda   libfacerec-cuda.so, in ${CMAKE_INSTALL_LIBDIR}/facerec (src/nn/cuda/cuda.cmake)
# The models are not built; build-deb.sh packages them from models/ after
# scripts/fetch-models.sh has verified them.
install(TARGETS facerec-bin RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT main)
