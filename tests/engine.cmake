# Small synthetic models that the engine tests load, generated once per run.
set(RK_TEST_MODELS ${CMAKE_BINARY_DIR}/test-models)
add_test(NAME models/synth-tiny
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/make_test_models.py ${RK_TEST_MODELS})
set_tests_properties(models/synth-tiny PROPERTIES FIXTURES_SETUP test_models)
set_tests_properties(unit/test_engine PROPERTIES FIXTURES_REQUIRED test_models
  ENVIRONMENT "RKSERVE_TEST_MODELS=${RK_TEST_MODELS}")
