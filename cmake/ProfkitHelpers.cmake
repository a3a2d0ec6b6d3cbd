# profkit_module(<name> SOURCES ... DEPS ...)
# One folder, one static library: userspace/<name>/ builds profkit_<name>, public headers live in
# include/profkit/<name>/.
function(profkit_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(profkit_${name} STATIC ${ARG_SOURCES})
  target_include_directories(profkit_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(profkit_${name} PUBLIC ${ARG_DEPS})
endfunction()

# `ninja unit_tests` builds every unit test and only what they need (the sanitizer build uses it).
add_custom_target(unit_tests)

# profkit_unit_test(<name> SOURCES ... DEPS ... [LABELS <label>...])
# A gtest binary registered with ctest. The labels say what the test needs to run (ctest -L):
#   unit             nothing but the build: no root, no network, no toolchain (the default);
#   needs_toolchain  compiles or runs interpreters at run time (cc, go, python3.X);
#   requires_bpf     root and a kernel that loads profkit's BPF programs.
# Under CI=true a test whose requirement is missing fails instead of skipping.
function(profkit_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  foreach(label ${ARG_LABELS})
    if(NOT label MATCHES "^(unit|needs_toolchain|requires_bpf)$")
      message(FATAL_ERROR "profkit_unit_test(${name}): unknown label '${label}'")
    endif()
  endforeach()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  # Shared test helpers: #include "testing/<helper>.h" (tests/unit/testing/).
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
  target_compile_definitions(${name} PRIVATE
    PROFKIT_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data"
    PROFKIT_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_dependencies(unit_tests ${name})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 300)
endfunction()

# profkit_generate_proto(<out_var> PROTO <file.proto> IMPORT_DIR <dir> OUT_DIR <dir>)
# Generates C++ for one .proto into OUT_DIR, laid out as protoc lays it out (the proto's path
# relative to IMPORT_DIR), and sets <out_var> to the .pb.cc to compile. A plain custom command
# instead of protobuf_generate(): CMake 3.25's version derives the output path from the current
# source directory, which does not match protoc's output for a proto outside it.
function(profkit_generate_proto out_var)
  cmake_parse_arguments(ARG "" "PROTO;IMPORT_DIR;OUT_DIR" "" ${ARGN})
  file(RELATIVE_PATH relative ${ARG_IMPORT_DIR} ${ARG_PROTO})
  string(REGEX REPLACE "\\.proto$" "" stem ${relative})
  get_filename_component(subdir ${relative} DIRECTORY)
  add_custom_command(
    OUTPUT ${ARG_OUT_DIR}/${stem}.pb.cc ${ARG_OUT_DIR}/${stem}.pb.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${ARG_OUT_DIR}/${subdir}
    COMMAND protobuf::protoc --proto_path=${ARG_IMPORT_DIR} --cpp_out=${ARG_OUT_DIR} ${ARG_PROTO}
    DEPENDS ${ARG_PROTO} protobuf::protoc
    COMMENT "Generating C++ for ${relative}"
    VERBATIM)
  set(${out_var} ${ARG_OUT_DIR}/${stem}.pb.cc PARENT_SCOPE)
endfunction()
