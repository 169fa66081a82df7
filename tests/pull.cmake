# rkserve pull and POST /api/pull against a hub double (tests/pull/hub.mjs)
# that node serves on 127.0.0.1: file choice, resume, SHA-256 checks,
# tokens, errors, and the official ollama client's pull() through a live
# server. The synthetic test models are among the files it serves.
find_program(RK_NODE_PULL node)
if(RK_NODE_PULL)
  file(GLOB RK_PULL_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/pull/*.test.mjs)
  foreach(src ${RK_PULL_TESTS})
    get_filename_component(name ${src} NAME_WE)
    add_test(NAME pull/${name} COMMAND ${RK_NODE_PULL} --test --test-reporter=spec ${src})
    set_tests_properties(pull/${name} PROPERTIES
      FIXTURES_REQUIRED test_models
      TIMEOUT 120
      ENVIRONMENT "RKSERVE_BIN=$<TARGET_FILE:rkserve>;RKSERVE_TEST_MODELS=${CMAKE_BINARY_DIR}/test-models;RKSERVE_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  endforeach()
endif()
