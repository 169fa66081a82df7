add_test(NAME cli/rkserve COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli.sh
  $<TARGET_FILE:rkserve> ${CMAKE_BINARY_DIR}/test-models)
set_tests_properties(cli/rkserve PROPERTIES FIXTURES_REQUIRED test_models)
