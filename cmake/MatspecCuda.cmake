# Resolves MATSPEC_CUDA (AUTO|ON|OFF) into MATSPEC_WITH_CUDA and enables the
# CUDA language when on. With CUDA on, the .cu targets compile even on a
# machine without a GPU; the GPU tests skip at run time there.

set(MATSPEC_WITH_CUDA OFF)
if(NOT MATSPEC_CUDA MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "MATSPEC_CUDA must be AUTO, ON or OFF (got '${MATSPEC_CUDA}')")
endif()
if(NOT MATSPEC_CUDA STREQUAL "OFF")
  find_program(MATSPEC_NVCC nvcc PATHS /usr/local/cuda/bin ENV PATH NO_CACHE)
  if(MATSPEC_NVCC)
    set(MATSPEC_WITH_CUDA ON)
  elseif(MATSPEC_CUDA STREQUAL "ON")
    message(FATAL_ERROR "MATSPEC_CUDA=ON but nvcc was found neither in /usr/local/cuda/bin nor on PATH")
  endif()
endif()

if(MATSPEC_WITH_CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA_COMPILER ${MATSPEC_NVCC})
  endif()
  if(NOT CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90)  # H100 / H200
  endif()
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "matspec: CUDA backend ON (${CMAKE_CUDA_COMPILER}, sm_${CMAKE_CUDA_ARCHITECTURES})")
else()
  message(STATUS "matspec: CUDA backend OFF")
endif()
