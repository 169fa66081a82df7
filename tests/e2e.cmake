# End-to-end tests of `rkserve serve`: node's test runner drives the official
# openai and ollama clients (and raw HTTP) against a live server on the
# synthetic test models; each file starts its own servers on free ports.
find_program(RK_NODE_E2E node)
if(RK_NODE_E2E)
  file(GLOB RK_E2E_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/e2e/*.test.mjs)
  foreach(src ${RK_E2E_TESTS})
    get_filename_component(name ${src} NAME_WE)
    add_test(NAME e2e/${name} COMMAND ${RK_NODE_E2E} --test --test-reporter=spec ${src})
    set_tests_properties(e2e/${name} PROPERTIES
      FIXTURES_REQUIRED test_models
      TIMEOUT 180
      ENVIRONMENT "RKSERVE_BIN=$<TARGET_FILE:rkserve>;RKSERVE_TEST_MODELS=${CMAKE_BINARY_DIR}/test-models;RKSERVE_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  endforeach()
endif()

# The scheduler's unit test runs on the synthetic models too.
set_tests_properties(unit/test_scheduler PROPERTIES
  FIXTURES_REQUIRED test_models
  TIMEOUT 120
  ENVIRONMENT "RKSERVE_SOURCE_DIR=${CMAKE_SOURCE_DIR};RKSERVE_BUILD_DIR=${CMAKE_BINARY_DIR};RKSERVE_TEST_MODELS=${CMAKE_BINARY_DIR}/test-models")

# The same server on the NPU code path: the rkllm engine against the
# librkllmrt emulator, once per ABI family.
if(RK_NODE_E2E AND TARGET rkllmrt_emu_12 AND TARGET rkllmrt_emu_13)
  foreach(family 12 13)
    if(family EQUAL 12)
      set(abi 1.2)
    else()
      set(abi 1.3)
    endif()
    add_test(NAME e2e/npu-v${abi} COMMAND ${RK_NODE_E2E} --test --test-reporter=spec ${CMAKE_CURRENT_SOURCE_DIR}/e2e/npu.mjs)
    set_tests_properties(e2e/npu-v${abi} PROPERTIES
      FIXTURES_REQUIRED test_models
      TIMEOUT 180
      ENVIRONMENT "RKSERVE_BIN=$<TARGET_FILE:rkserve>;RKSERVE_TEST_MODELS=${CMAKE_BINARY_DIR}/test-models;RKSERVE_SOURCE_DIR=${CMAKE_SOURCE_DIR};RKSERVE_RKLLM_EMULATOR=$<TARGET_FILE:rkllmrt_emu_${family}>")
  endforeach()
endif()
