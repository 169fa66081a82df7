# aarch64/unit: the unit tests of the aarch64 cross build (`make aarch64`),
# run by that build's own ctest under qemu-user, so the NEON kernels are
# checked on every `make test`. Only the unit tests: the host-side
# python/node checks other fragments register do not apply to the cross
# build. Fails, naming the fix, when the cross build is missing. The cross
# build includes this file too and must not run itself. qemu runs code some
# 10-50x slower than native, hence the generous per-test limit; a hang still
# fails in bounded time.
if(NOT CMAKE_CROSSCOMPILING)
  set(RK_AARCH64_BUILD ${CMAKE_SOURCE_DIR}/build-aarch64)
  add_test(NAME aarch64/unit
    COMMAND sh -c "if [ -f \"$1/CTestTestfile.cmake\" ]; then exec \"$2\" --test-dir \"$1\" --output-on-failure --no-tests=error --timeout 300 -R '^unit/'; else echo \"aarch64/unit: no cross build in $1; run 'make aarch64' first\" >&2; exit 1; fi"
            sh ${RK_AARCH64_BUILD} ${CMAKE_CTEST_COMMAND})
  set_tests_properties(aarch64/unit PROPERTIES TIMEOUT 3600)
endif()
