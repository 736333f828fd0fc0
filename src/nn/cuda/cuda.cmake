# CUDA backend (cuDNN + cuBLAS), included by the top-level CMakeLists.txt
# after the `facerec` library is defined.
#
# FACEREC_CUDA=AUTO builds it when nvcc, cuDNN and cuBLAS are found, ON
# fails without them, OFF skips it. The backend is a module,
# libfacerec-cuda.so (src/nn/backend-module.h): the programs do not link
# CUDA at all and dlopen the module at run time (src/nn/backend-reg.c), so
# they start on machines without CUDA and fall back to the CPU. The module
# links the CUDA runtime statically and cuDNN/cuBLAS dynamically; those load
# without a driver, so the module loads there too and reports no device.
set(FR_CUDA_ENABLED OFF)
string(TOUPPER "${FACEREC_CUDA}" _fr_cuda_mode)
if(NOT _fr_cuda_mode STREQUAL "OFF")
  # nvcc is often not on PATH (/usr/local/cuda/bin); look there too.
  if(NOT CMAKE_CUDA_COMPILER)
    find_program(FR_NVCC nvcc HINTS ENV CUDACXX PATHS /usr/local/cuda/bin NO_CACHE)
    if(FR_NVCC)
      set(CMAKE_CUDA_COMPILER "${FR_NVCC}" CACHE FILEPATH "CUDA compiler")
    endif()
  endif()
  if(CMAKE_CUDA_COMPILER)
    find_package(CUDAToolkit QUIET)
  endif()
  if(CUDAToolkit_FOUND)
    find_path(CUDNN_INCLUDE cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES cudnn)
    find_library(CUDNN_LIB cudnn HINTS ${CUDAToolkit_LIBRARY_ROOT}/lib ${CUDAToolkit_LIBRARY_DIR}
      ${CUDAToolkit_LIBRARY_ROOT}/lib64)
  endif()
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND AND TARGET CUDA::cublas AND TARGET CUDA::cudart_static
     AND CUDNN_INCLUDE AND CUDNN_LIB)
    set(FR_CUDA_ENABLED ON)
  elseif(_fr_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "FACEREC_CUDA=ON but nvcc (${CMAKE_CUDA_COMPILER}), the CUDA toolkit, cuBLAS or cuDNN "
      "(${CUDNN_INCLUDE}, ${CUDNN_LIB}) was not found")
  else()
    message(STATUS "CUDA backend: not built (nvcc, cuBLAS or cuDNN missing)")
  endif()
endif()

if(FR_CUDA_ENABLED)
  if(NOT CMAKE_CUDA_ARCHITECTURES)
    # Ampere (A100, RTX 30xx), Ada (RTX 40xx, including the 4050), Hopper.
    set(CMAKE_CUDA_ARCHITECTURES "80;86;89;90")
  endif()
  enable_language(CUDA)
  message(STATUS "CUDA backend: nvcc ${CMAKE_CUDA_COMPILER_VERSION}, archs ${CMAKE_CUDA_ARCHITECTURES}, "
    "cuDNN ${CUDNN_LIB}")
  add_library(facerec-cuda MODULE src/nn/cuda/module.c src/nn/cuda/backend-cuda.c src/nn/cuda/kernels.cu
    src/nn/cuda/cuda-plan.c src/nn/plan.c)
  target_include_directories(facerec-cuda PRIVATE include src)
  target_include_directories(facerec-cuda SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS} ${CUDNN_INCLUDE})
  target_compile_definitions(facerec-cuda PRIVATE FR_HAVE_CUDA _GNU_SOURCE)
  # The directory's options are gcc's; nvcc gets its own. cuDNN 9 marks the
  # legacy convolution API deprecated, which is the API used here.
  set_property(TARGET facerec-cuda PROPERTY COMPILE_OPTIONS
    $<$<COMPILE_LANGUAGE:C>:-Wall$<SEMICOLON>-Wextra$<SEMICOLON>-Werror$<SEMICOLON>-Wno-unused-parameter$<SEMICOLON>-Wno-deprecated-declarations$<SEMICOLON>-fvisibility=hidden>
    $<$<AND:$<COMPILE_LANGUAGE:C>,$<BOOL:${FR_SANITIZE}>>:-fsanitize=address,undefined$<SEMICOLON>-fno-omit-frame-pointer>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall$<SEMICOLON>-Xcompiler=-fvisibility=hidden$<SEMICOLON>--Werror=all-warnings>)
  set_target_properties(facerec-cuda PROPERTIES POSITION_INDEPENDENT_CODE ON CUDA_STANDARD 17
    C_VISIBILITY_PRESET hidden LINK_DEPENDS ${PROJECT_SOURCE_DIR}/src/nn/cuda/module.map
    # Installed modules find cuDNN/cuBLAS through the loader's path (the
    # distribution's or NVIDIA's packages, or the bundle's wrapper); the
    # build tree's copy keeps the toolkit's directories in its RUNPATH.
    INSTALL_RPATH "")
  get_filename_component(_fr_cudnn_dir "${CUDNN_LIB}" DIRECTORY)
  set(_fr_cuda_rpath ${CUDAToolkit_LIBRARY_DIR} ${_fr_cudnn_dir})
  list(REMOVE_DUPLICATES _fr_cuda_rpath)
  list(REMOVE_ITEM _fr_cuda_rpath "")
  set_property(TARGET facerec-cuda PROPERTY BUILD_RPATH "${_fr_cuda_rpath}")
  # Self-contained: every symbol resolves at link time, and only the entry
  # point is exported (the copies of fr_malloc etc. stay local).
  target_link_options(facerec-cuda PRIVATE -Wl,--no-undefined -Wl,-z,defs -Wl,--as-needed
    -Wl,--version-script=${PROJECT_SOURCE_DIR}/src/nn/cuda/module.map)
  target_link_libraries(facerec-cuda PRIVATE CUDA::cudart_static CUDA::cublas ${CUDNN_LIB})
  install(TARGETS facerec-cuda LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/facerec COMPONENT cuda)
  # Programs look for the module when they start a backend; build it with them.
  add_dependencies(facerec facerec-cuda)
endif()

# Host-only planner report (no CUDA needed): bytes per net and batch item.
add_executable(fr-plan-memory bench/plan-memory.c)
target_include_directories(fr-plan-memory PRIVATE src)
target_link_libraries(fr-plan-memory facerec)
