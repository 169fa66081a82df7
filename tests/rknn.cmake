# The rknn vision engine against the librknnrt emulator (emulator/rknn),
# with tiny synthetic projectors: 16 x 64 embeddings, and 16 x 768 ones
# whose output is an image's worth of values, so shards can be chained.
if(NOT TARGET rknnrt_emu)
  add_subdirectory(${CMAKE_SOURCE_DIR}/emulator/rknn ${CMAKE_BINARY_DIR}/emulator/rknn)
endif()
add_dependencies(test_rknn rknnrt_emu)
add_test(NAME models/synth-vision-768
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/../models/synth_vision.py --shape tiny --type F32
          --n-embd 768 --seed 5 --out ${CMAKE_BINARY_DIR}/test-models/vision-tiny-768.gguf -q)
set_tests_properties(models/synth-vision-768 PROPERTIES FIXTURES_SETUP test_models)
set_tests_properties(unit/test_rknn PROPERTIES FIXTURES_REQUIRED test_models
  ENVIRONMENT "RKSERVE_SOURCE_DIR=${CMAKE_SOURCE_DIR};RKSERVE_BUILD_DIR=${CMAKE_BINARY_DIR};RKSERVE_TEST_MODELS=${CMAKE_BINARY_DIR}/test-models")

# The ABI layouts for armhf (32-bit pointers, 32-bit rknn_context): the
# header's static assertions, compiled for that target without its libc.
find_program(RK_CLANG clang)
if(RK_CLANG)
  add_test(NAME rknn/abi-armhf COMMAND ${RK_CLANG} --target=armv7-linux-gnueabihf -ffreestanding -std=c11
    -Wall -Werror -fsyntax-only -I${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/src/engine/rknn/rknn_abi.h)
endif()
