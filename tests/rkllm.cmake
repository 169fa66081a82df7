# The rkllm engine against the librkllmrt emulators (both ABI families), a
# vendor-API program linked straight to the emulator, and the ABI layouts
# checked for the 32-bit ARM and 64-bit ARM targets the runtime ships for.
add_dependencies(test_rkllm rkllmrt_emu_12 rkllmrt_emu_13)
set_tests_properties(unit/test_rkllm PROPERTIES FIXTURES_REQUIRED test_models
  ENVIRONMENT "RKSERVE_SOURCE_DIR=${CMAKE_SOURCE_DIR};RKSERVE_BUILD_DIR=${CMAKE_BINARY_DIR};RKSERVE_TEST_MODELS=${RK_TEST_MODELS};RKSERVE_DT_COMPATIBLE=/nonexistent")

add_executable(rkllm_vendor_demo ${CMAKE_CURRENT_SOURCE_DIR}/rkllm/vendor_demo.c)
target_include_directories(rkllm_vendor_demo PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(rkllm_vendor_demo PRIVATE rkllmrt_emu_13)
add_test(NAME rkllm/vendor-api-program
  COMMAND rkllm_vendor_demo ${RK_TEST_MODELS}/qwen3-q8.gguf)
set_tests_properties(rkllm/vendor-api-program PROPERTIES FIXTURES_REQUIRED test_models)

set(RK_ABI_HEADER ${CMAKE_SOURCE_DIR}/src/engine/rkllm/rkllm_abi.h)
find_program(RK_CLANG clang)
if(RK_CLANG)
  add_test(NAME rkllm/abi-layout-armhf
    COMMAND ${RK_CLANG} --target=armv7-linux-gnueabihf -ffreestanding -std=c11 -Werror -fsyntax-only -x c ${RK_ABI_HEADER})
  add_test(NAME rkllm/abi-layout-aarch64
    COMMAND ${RK_CLANG} --target=aarch64-linux-gnu -ffreestanding -std=c11 -Werror -fsyntax-only -x c ${RK_ABI_HEADER})
endif()
find_program(RK_ARMHF_GCC arm-linux-gnueabihf-gcc)
if(RK_ARMHF_GCC)
  add_test(NAME rkllm/abi-layout-armhf-gcc
    COMMAND ${RK_ARMHF_GCC} -std=c11 -Werror -fsyntax-only -x c ${RK_ABI_HEADER})
endif()
