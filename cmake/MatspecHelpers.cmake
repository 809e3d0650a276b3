# Small declarative helpers: one call per library, test or benchmark.
# Every target sees the repository root as its include root, so headers are
# included as "kernels/matmul.h", "engine/weight_store.h", "draft/slice_spec.h".

set(MATSPEC_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare)

# matspec_library(NAME SOURCES a.cc b.cc DEPS x y)
function(matspec_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_SOURCES)  # a folder whose sources are not written yet
    file(WRITE ${PROJECT_BINARY_DIR}/matspec_empty_${name}.cc "")
    set(ARG_SOURCES ${PROJECT_BINARY_DIR}/matspec_empty_${name}.cc)
  endif()
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/decoding/include)
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${MATSPEC_WARNINGS}>)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# matspec_test(NAME SOURCES a_test.cc DEPS x y [LABELS l]) -- a GoogleTest binary
# (main: matspec_gtest_main, defined in tests/CMakeLists.txt) registered with
# CTest under its own name; CTest reports it "Skipped" when every test skipped. The working directory is the
# repository root, so tests open committed fixtures as "tests/fixtures/...".
function(matspec_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${MATSPEC_WARNINGS}>)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} matspec_testing matspec_gtest_main GTest::gtest GTest::gmock)
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  # A binary whose every test skipped (tests/main/gtest_skip_main.cc) is reported as Skipped.
  set_tests_properties(${name} PROPERTIES SKIP_REGULAR_EXPRESSION "MATSPEC_ALL_TESTS_SKIPPED")
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# matspec_bench(NAME SOURCES a.cc DEPS x y) -- a Google Benchmark binary.
function(matspec_bench name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()
