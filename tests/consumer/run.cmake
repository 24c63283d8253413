# CTest test `consumer`: cmake -D... -P tests/consumer/run.cmake
#   LTCL_BUILD_DIR        the main build to install
#   LTCL_TARGETS          its targets the install needs, '|'-separated
#   LTCL_CONSUMER_SOURCE  this folder
#   LTCL_WORK_DIR         scratch folder (prefix/ and build/), made afresh
#   LTCL_PREFIX_PATH      the main build's CMAKE_PREFIX_PATH, '|'-separated
#   Torch_DIR, LTCL_CXX_COMPILER, LTCL_BUILD_TYPE  as the main build has them
# Brings the installed targets up to date, installs them into
# LTCL_WORK_DIR/prefix, configures and builds the consumer against that
# prefix (Ninja when there is one, one job) and runs it. The scratch folder is
# removed when all went well and kept for a look otherwise.
cmake_minimum_required(VERSION 3.18)

# Fails the test when the last execute_process did not exit 0. (The commands
# are not wrapped in a function: its ${ARGN} would split the prefix path.)
function(check what)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer: ${what} failed (${rc}); see ${LTCL_WORK_DIR}")
  endif()
endfunction()

string(REPLACE "|" ";" targets "${LTCL_TARGETS}")
string(REPLACE "|" ";" prefix_path "${LTCL_PREFIX_PATH}")
set(prefix ${LTCL_WORK_DIR}/prefix)
set(build ${LTCL_WORK_DIR}/build)
file(REMOVE_RECURSE ${LTCL_WORK_DIR})

execute_process(
  COMMAND ${CMAKE_COMMAND} --build ${LTCL_BUILD_DIR} --target ${targets} -j 1
  RESULT_VARIABLE rc)
check("building ${targets}")
execute_process(
  COMMAND ${CMAKE_COMMAND} --install ${LTCL_BUILD_DIR} --prefix ${prefix}
  OUTPUT_QUIET RESULT_VARIABLE rc)
check("cmake --install ${LTCL_BUILD_DIR} --prefix ${prefix}")

set(generator)
find_program(ninja NAMES ninja ninja-build)
if(ninja)
  set(generator -G Ninja)
endif()
list(PREPEND prefix_path ${prefix})
set(configure_args)
if(Torch_DIR)
  list(APPEND configure_args -DTorch_DIR=${Torch_DIR})
endif()
if(LTCL_CXX_COMPILER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER=${LTCL_CXX_COMPILER})
endif()
if(NOT LTCL_BUILD_TYPE)
  set(LTCL_BUILD_TYPE Release)
endif()
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${LTCL_CONSUMER_SOURCE} -B ${build} ${generator}
          -DCMAKE_BUILD_TYPE=${LTCL_BUILD_TYPE}
          "-DCMAKE_PREFIX_PATH=${prefix_path}" ${configure_args}
  RESULT_VARIABLE rc)
check("configuring the consumer")
execute_process(COMMAND ${CMAKE_COMMAND} --build ${build} -j 1
                RESULT_VARIABLE rc)
check("building the consumer")
execute_process(COMMAND ${build}/ltcl_consumer RESULT_VARIABLE rc)
check("running the consumer")
file(REMOVE_RECURSE ${LTCL_WORK_DIR})
