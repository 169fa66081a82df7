# The model trained in models/fortune must recite the passages it memorised
# when the C engine runs it: rkserve run --raw, greedy, from 8-word prefixes.
add_test(NAME trained/memorised
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/trained/check_memorised.py
          --rkserve $<TARGET_FILE:rkserve>
          --model ${CMAKE_SOURCE_DIR}/models/fortune/fortune-llama.gguf
          --passages ${CMAKE_CURRENT_SOURCE_DIR}/trained/passages.json)
set_tests_properties(trained/memorised PROPERTIES TIMEOUT 300)

# The chat exchanges it was trained on, through the chat template: exact
# answers, stopping at <|im_end|>.
add_test(NAME trained/chat
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/trained/check_memorised.py --chat
          --rkserve $<TARGET_FILE:rkserve>
          --model ${CMAKE_SOURCE_DIR}/models/fortune/fortune-llama.gguf
          --passages ${CMAKE_CURRENT_SOURCE_DIR}/trained/passages.json)
set_tests_properties(trained/chat PROPERTIES TIMEOUT 300)

# The same GGUF under llama.cpp (node-llama-cpp's prebuilt binding), which
# pins the file itself: metadata names, tensor layout, RoPE order, vocabulary.
find_program(RK_NODE node)
if(RK_NODE)
  add_test(NAME trained/llama_cpp
    COMMAND ${RK_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/trained/llama_cpp_check.mjs
            --model ${CMAKE_SOURCE_DIR}/models/fortune/fortune-llama.gguf
            --passages ${CMAKE_CURRENT_SOURCE_DIR}/trained/passages.json)
  set_tests_properties(trained/llama_cpp PROPERTIES TIMEOUT 300)
endif()
