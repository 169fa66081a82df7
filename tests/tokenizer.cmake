# Tokenizers against the reference JS tokenizers (@lenml/tokenizers): each
# model's vocabulary is written to a GGUF in the build tree by
# tokenizer/make_vocab_gguf.py, and tokenizer/compare.mjs checks that
# tokenize_tool gives the reference's ids for every corpus string.
find_program(RK_NODE node)
set(RK_SYSTEM_PYTHON /usr/bin/python3)

add_executable(tokenize_tool ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer/tokenize_tool.c)
target_link_libraries(tokenize_tool PRIVATE rkcore)

if(RK_NODE)
  foreach(model qwen3 llama3 gemma3 llama2)
    add_test(NAME tokenizer/${model}
      COMMAND ${RK_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer/compare.mjs ${model}
              --tool $<TARGET_FILE:tokenize_tool>
              --work ${CMAKE_BINARY_DIR}/tokenizer
              --python ${RK_SYSTEM_PYTHON})
    set_tests_properties(tokenizer/${model} PROPERTIES TIMEOUT 300)
  endforeach()
endif()
