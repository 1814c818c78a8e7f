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
