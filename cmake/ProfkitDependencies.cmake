# Every dependency is a Debian 12 package (scripts/install-deps.sh installs them). Versions are
# checked here so a stale system library fails the configure step with a clear message instead of
# a confusing compile or run-time error.
find_package(PkgConfig REQUIRED)

pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf>=1.0)
pkg_check_modules(LIBELF REQUIRED IMPORTED_TARGET libelf)
pkg_check_modules(LIBDW REQUIRED IMPORTED_TARGET libdw)
pkg_check_modules(LIBCURL REQUIRED IMPORTED_TARGET libcurl>=7.85)
# zstd and LZ4 frame: how current tracers compress profile attachments (profiling_metrics).
pkg_check_modules(LIBZSTD REQUIRED IMPORTED_TARGET libzstd>=1.4)
pkg_check_modules(LIBLZ4 REQUIRED IMPORTED_TARGET liblz4>=1.9)
find_package(ZLIB REQUIRED)
pkg_check_modules(LIBLZMA REQUIRED IMPORTED_TARGET liblzma)
pkg_check_modules(LIBDEBUGINFOD REQUIRED IMPORTED_TARGET libdebuginfod)
find_package(Protobuf 3.12 REQUIRED)
find_package(fmt 9 REQUIRED)
find_package(spdlog 1.10 REQUIRED)
find_package(tomlplusplus 3 REQUIRED)
find_package(CLI11 2 REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(Threads REQUIRED)

# cpp-httplib is packaged by Debian as a compiled library without a CMake config.
find_path(HTTPLIB_INCLUDE_DIR httplib.h REQUIRED)
find_library(HTTPLIB_LIBRARY cpp-httplib REQUIRED)
add_library(profkit_httplib INTERFACE)
target_include_directories(profkit_httplib INTERFACE ${HTTPLIB_INCLUDE_DIR})
target_link_libraries(profkit_httplib INTERFACE ${HTTPLIB_LIBRARY} Threads::Threads)

if(PROFKIT_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
