# The trained vision model in models/shapes, checked from its exported files
# alone (no C engine): PyTorch rebuilt from the GGUF pair must give the
# reference answers, naming the right shape and colour, on held-out images.
add_test(NAME trained/shapes_files
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/trained/check_shapes.py
          --dir ${CMAKE_SOURCE_DIR}/models/shapes)
set_tests_properties(trained/shapes_files PROPERTIES TIMEOUT 300)
