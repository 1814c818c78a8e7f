# Shared compile settings for mxlab's own targets (never for dependencies).
set(MXLAB_WARNINGS
    -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes
    -Wmissing-prototypes -Wformat=2 -Wvla -Wimplicit-fallthrough)
if(MXLAB_WERROR)
    list(APPEND MXLAB_WARNINGS -Werror)
endif()

if(MXLAB_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
endif()

# mxlab_target(NAME): apply our warnings and definitions to one target.
function(mxlab_target name)
    target_compile_options(${name} PRIVATE ${MXLAB_WARNINGS})
    target_compile_definitions(${name} PRIVATE _GNU_SOURCE
        MXLAB_VERSION="${PROJECT_VERSION}")
endfunction()

# mxlab_check_test(NAME SOURCES... LIBS ...): one Check test binary, one CTest test.
function(mxlab_check_test name)
    cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
    add_executable(${name} ${T_SOURCES})
    set_target_properties(${name} PROPERTIES
        RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    mxlab_target(${name})
    target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CHECK)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES
        ENVIRONMENT "CK_DEFAULT_TIMEOUT=30;MXLAB_SOURCE_DIR=${PROJECT_SOURCE_DIR};MXLAB_BIN_DIR=${CMAKE_BINARY_DIR}/bin"
        TIMEOUT 120)
endfunction()

# mxlab_cli_test(TARGET [SUBCOMMAND...]): the program (and each
# subcommand) answers --help and -h (exit 0, usage on stdout), a bad
# option with exit 2 and an error prefixed with its own name, and
# --version with "TARGET VERSION" (cmake/cli-test.sh).
function(mxlab_cli_test target)
    add_test(NAME ${target}-cli
             COMMAND ${PROJECT_SOURCE_DIR}/cmake/cli-test.sh
                     $<TARGET_FILE:${target}> ${target} ${PROJECT_VERSION}
                     ${ARGN})
endfunction()

# Fuzz targets over every parser of outside bytes. Each target is one
# LLVMFuzzerTestOneInput() in <component>/fuzz/fuzz_NAME.c with its seed
# corpus in <component>/fuzz/corpus/NAME/ (crashes found are added there
# as regression inputs).
#   - Always: NAME-replay (the target with lib/fuzz/replay.c as main) and
#     the CTest test fuzz-replay-NAME over the corpus, so every build
#     replays the corpora (the sanitizer build under ASan/UBSan).
#   - With -DMXLAB_FUZZ=ON and clang (ci/fuzz --time N): NAME, a libFuzzer
#     binary; the whole tree is then compiled with coverage.
option(MXLAB_FUZZ "Build the libFuzzer targets (CC=clang; see ci/fuzz)" OFF)
if(MXLAB_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
        message(FATAL_ERROR "MXLAB_FUZZ needs clang: CC=clang cmake ...")
    endif()
    add_compile_options(-fsanitize=fuzzer-no-link)
    if(NOT TARGET fuzz-all)
        add_custom_target(fuzz-all)
    endif()
endif()

# mxlab_fuzz(NAME LIBS lib... [INCLUDES dir...])
function(mxlab_fuzz name)
    cmake_parse_arguments(F "" "" "LIBS;INCLUDES" ${ARGN})
    set(src ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${name}.c)
    set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${name})
    add_executable(${name}-replay ${src} ${PROJECT_SOURCE_DIR}/lib/fuzz/replay.c)
    set_target_properties(${name}-replay PROPERTIES
        RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
    mxlab_target(${name}-replay)
    target_include_directories(${name}-replay PRIVATE ${F_INCLUDES})
    target_link_libraries(${name}-replay PRIVATE ${F_LIBS})
    add_test(NAME fuzz-replay-${name} COMMAND ${name}-replay ${corpus})
    set_tests_properties(fuzz-replay-${name} PROPERTIES TIMEOUT 300)
    if(MXLAB_FUZZ)
        add_executable(${name} ${src})
        set_target_properties(${name} PROPERTIES
            RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
        mxlab_target(${name})
        target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
        target_link_options(${name} PRIVATE -fsanitize=fuzzer)
        target_include_directories(${name} PRIVATE ${F_INCLUDES})
        target_link_libraries(${name} PRIVATE ${F_LIBS})
        add_dependencies(fuzz-all ${name})
    endif()
endfunction()
