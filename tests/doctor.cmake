# rkserve doctor against saved board trees (tests/doctor/fixtures).
add_test(NAME doctor/fixtures COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/doctor/test_doctor.sh
  $<TARGET_FILE:rkserve> ${CMAKE_CURRENT_SOURCE_DIR}/doctor/fixtures ${CMAKE_BINARY_DIR})
