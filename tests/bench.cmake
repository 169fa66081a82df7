# rkserve bench on the tiny test models (bench/smoke.sh): the text and vision
# tests report every figure, so `make bench` cannot rot unnoticed. No timing
# is asserted.
add_test(NAME bench/smoke COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/../bench/smoke.sh
  $<TARGET_FILE:rkserve> ${CMAKE_BINARY_DIR}/test-models)
set_tests_properties(bench/smoke PROPERTIES FIXTURES_REQUIRED test_models TIMEOUT 60)
