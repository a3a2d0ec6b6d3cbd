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

# profkit_unit_test(<name> SOURCES ... DEPS ...)
# A gtest binary registered with ctest under the label "unit" (no root, no network).
function(profkit_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  # Shared test helpers: #include "testing/<helper>.h" (tests/unit/testing/).
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
  target_compile_definitions(${name} PRIVATE
    PROFKIT_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data"
    PROFKIT_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_dependencies(unit_tests ${name})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 300)
endfunction()
