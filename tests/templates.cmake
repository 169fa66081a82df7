# Chat templates: our Jinja interpreter against @huggingface/jinja on real
# model templates x tests/templates/conversations.json, one entry per family.
add_executable(jinja_render_tool ${CMAKE_CURRENT_SOURCE_DIR}/templates/render_tool.c)
target_link_libraries(jinja_render_tool PRIVATE rkcore)

find_program(RK_NODE node)
if(RK_NODE)
  foreach(family qwen3 qwen2.5 llama3 gemma3 smollm extra)
    add_test(NAME templates/${family}
      COMMAND ${RK_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/templates/reference.mjs
              --family ${family} --tool $<TARGET_FILE:jinja_render_tool>)
    set_tests_properties(templates/${family} PROPERTIES
      ENVIRONMENT "TZ=UTC;LANG=en_US.UTF-8"
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  endforeach()
  add_test(NAME templates/differential
    COMMAND ${RK_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/templates/differential.mjs
            --tool $<TARGET_FILE:jinja_render_tool> --count 300)
  set_tests_properties(templates/differential PROPERTIES
    ENVIRONMENT "TZ=UTC;LANG=en_US.UTF-8"
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
endif()
