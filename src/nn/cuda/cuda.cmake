# CUDA backend (cuDNN + cuBLAS), included by the top-level CMakeLists.txt
# after the `facerec` library is defined.
#
# FACEREC_CUDA=AUTO builds it when nvcc, cuDNN and cuBLAS are found, ON
# fails without them, OFF skips it. The CUDA runtime is linked statically
# and cuDNN/cuBLAS are shared libraries that load without a driver, so the
# same binaries start on machines without a GPU and fall back to the CPU.
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
  add_library(facerec_cuda OBJECT src/nn/cuda/backend-cuda.c src/nn/cuda/kernels.cu)
  target_include_directories(facerec_cuda PRIVATE include src)
  target_include_directories(facerec_cuda SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS} ${CUDNN_INCLUDE})
  # The directory's options are gcc's; nvcc gets its own. cuDNN 9 marks the
  # legacy convolution API deprecated, which is the API used here.
  set_property(TARGET facerec_cuda PROPERTY COMPILE_OPTIONS
    $<$<COMPILE_LANGUAGE:C>:-Wall$<SEMICOLON>-Wextra$<SEMICOLON>-Werror$<SEMICOLON>-Wno-unused-parameter$<SEMICOLON>-Wno-deprecated-declarations>
    $<$<AND:$<COMPILE_LANGUAGE:C>,$<BOOL:${FR_SANITIZE}>>:-fsanitize=address,undefined$<SEMICOLON>-fno-omit-frame-pointer>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall$<SEMICOLON>--Werror=all-warnings>)
  set_target_properties(facerec_cuda PROPERTIES POSITION_INDEPENDENT_CODE ON CUDA_STANDARD 17)
  set_source_files_properties(src/nn/backend.c PROPERTIES COMPILE_DEFINITIONS FR_HAVE_CUDA)
  target_sources(facerec PRIVATE $<TARGET_OBJECTS:facerec_cuda>)
  # facerec was defined before CUDA was enabled, so it did not inherit this.
  set_target_properties(facerec PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
  target_link_libraries(facerec PUBLIC CUDA::cudart_static CUDA::cublas ${CUDNN_LIB})
endif()

# Host-only planner report (no CUDA needed): bytes per net and batch item.
add_executable(fr-plan-memory bench/plan-memory.c)
target_include_directories(fr-plan-memory PRIVATE src)
target_link_libraries(fr-plan-memory facerec)
