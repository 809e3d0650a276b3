# cmake -DSRC=<repo> -DOUT=<header> -P GitCommit.cmake: writes
# `#define MATSPEC_GIT_COMMIT "<git describe --always --dirty>"` ("unknown"
# outside a git checkout), touching OUT only when the text changes, so that
# `matspec bench` names the commit it was built from without rebuilding often.
execute_process(COMMAND git describe --always --dirty --abbrev=12 WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")
endif()
set(text "#define MATSPEC_GIT_COMMIT \"${commit}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUT} "${text}")
endif()
