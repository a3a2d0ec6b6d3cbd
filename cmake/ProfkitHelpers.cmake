# Each module's library exposes only its own headers: its include directory is a directory of
# the build tree holding one link, profkit/<name> -> include/profkit/<name>, so that code which
# includes a header of a module it does not link (directly or through its DEPS) does not compile.
set(PROFKIT_MODULE_INCLUDE_ROOT ${PROJECT_BINARY_DIR}/module_include)

# profkit_expose_headers(<target> <root name> <path under include/profkit>)
function(profkit_expose_headers target root path)
  set(dir ${PROFKIT_MODULE_INCLUDE_ROOT}/${root})
  get_filename_component(parent ${dir}/profkit/${path} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/include/profkit/${path} ${dir}/profkit/${path} SYMBOLIC)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_include_directories(${target} INTERFACE ${dir})
  else()
    target_include_directories(${target} PUBLIC ${dir})
  endif()
endfunction()

# The BPF <-> userspace contract is its own header-only target, linked by the modules that decode
# or describe what the BPF programs write (sampling, python).
add_library(profkit_bpf_abi INTERFACE)
profkit_expose_headers(profkit_bpf_abi bpf_abi bpf_abi.h)

# profkit_module(<name> SOURCES ... DEPS ...)
# One folder, one static library: userspace/<name>/ builds profkit_<name>, public headers live in
# include/profkit/<name>/. DEPS are the modules and libraries it uses; a module's headers may
# name its DEPS' types, so they are PUBLIC.
function(profkit_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(profkit_${name} STATIC ${ARG_SOURCES})
  profkit_expose_headers(profkit_${name} ${name} ${name})
  target_link_libraries(profkit_${name} PUBLIC ${ARG_DEPS})
  set_property(GLOBAL APPEND PROPERTY PROFKIT_MODULES ${name})
endfunction()

# profkit_check_module_includes()
# Called once every module is defined: each module's sources, private headers and public headers
# may include "profkit/<m>/..." only for itself or a module it lists in its own DEPS, not one it
# reaches through a dependency's dependencies (so DEPS say what the module uses, and an upward
# dependency such as config -> pull shows up as a DEPS entry, not as a hidden include).
function(profkit_check_module_includes)
  get_property(modules GLOBAL PROPERTY PROFKIT_MODULES)
  foreach(name ${modules})
    get_target_property(sources profkit_${name} SOURCES)
    get_target_property(source_dir profkit_${name} SOURCE_DIR)
    get_target_property(links profkit_${name} LINK_LIBRARIES)
    file(GLOB headers ${PROJECT_SOURCE_DIR}/include/profkit/${name}/*.h ${source_dir}/*.h)
    set(files ${headers})
    foreach(source ${sources})
      if(NOT IS_ABSOLUTE ${source})
        set(source ${source_dir}/${source})
      endif()
      # Generated sources (protobuf) include only what protoc wrote.
      if(EXISTS ${source})
        list(APPEND files ${source})
      endif()
    endforeach()
    foreach(file ${files})
      file(STRINGS ${file} includes REGEX "^#include \"profkit/[a-z_]+/")
      foreach(line ${includes})
        string(REGEX REPLACE "^#include \"profkit/([a-z_]+)/.*" "\\1" used "${line}")
        if(NOT used STREQUAL name AND NOT profkit_${used} IN_LIST links)
          file(RELATIVE_PATH shown ${PROJECT_SOURCE_DIR} ${file})
          message(FATAL_ERROR "${shown} includes a header of module '${used}', which "
                              "profkit_${name} does not link: add profkit_${used} to its DEPS, "
                              "or move the code")
        endif()
      endforeach()
    endforeach()
  endforeach()
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
