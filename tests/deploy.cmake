# make install, the systemd unit, compose/Dockerfile and scripts/install-runtime.sh.
add_test(NAME deploy/files COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/deploy/test_deploy.sh
  $<TARGET_FILE:rkserve> ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
