# Numerical verification against an independent PyTorch reference
# (tests/reference/README.md). Python with numpy and torch is Debian's
# /usr/bin/python3; llama.cpp comes from the node-llama-cpp package.
set(RK_REF_DIR ${CMAKE_CURRENT_SOURCE_DIR}/reference)
if(EXISTS /usr/bin/python3)
  set(RK_REF_PYTHON /usr/bin/python3)
else()
  find_program(RK_REF_PYTHON python3 REQUIRED)
endif()

add_test(NAME reference/quants COMMAND ${RK_REF_PYTHON} ${RK_REF_DIR}/test_quants.py)
add_test(NAME reference/selfcheck
         COMMAND ${RK_REF_PYTHON} ${RK_REF_DIR}/selfcheck.py ${CMAKE_BINARY_DIR}/tests/reference-selfcheck)
set_tests_properties(reference/quants reference/selfcheck PROPERTIES TIMEOUT 120 LABELS reference)

find_program(RK_REF_NODE node)
if(RK_REF_NODE)
  add_test(NAME reference/llamacpp-crosscheck
           COMMAND ${RK_REF_PYTHON} ${RK_REF_DIR}/crosscheck_llamacpp.py ${CMAKE_BINARY_DIR}/tests/reference-llamacpp
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(reference/llamacpp-crosscheck PROPERTIES TIMEOUT 300 LABELS reference)
else()
  message(WARNING "reference: node not found, reference/llamacpp-crosscheck not registered")
endif()

# One ctest entry per case of tests/reference/cases.py; re-configure when it changes.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${RK_REF_DIR}/cases.py)
# (matched on the whole text: lines holding '[' would upset CMake's list splitting)
file(READ ${RK_REF_DIR}/cases.py RK_REF_CASES_PY)
string(REGEX MATCHALL "\n    Case\\(\"[^\"]+\"" RK_REF_CASE_HEADS "${RK_REF_CASES_PY}")
set(RK_REF_CASES "")
foreach(head ${RK_REF_CASE_HEADS})
  string(REGEX REPLACE ".*Case\\(\"([^\"]+)\"" "\\1" name "${head}")
  list(APPEND RK_REF_CASES ${name})
endforeach()

# The dumper target is defined after the fragments are included, so the
# engine comparisons are registered once this directory is fully read.
function(rk_reference_engine_tests)
  if(NOT TARGET dump_logits)
    message(WARNING "reference: no dump_logits target, engine-vs-reference tests not registered")
    return()
  endif()
  foreach(case ${RK_REF_CASES})
    add_test(NAME reference/${case}
             COMMAND ${RK_REF_PYTHON} ${RK_REF_DIR}/compare.py ${CMAKE_BINARY_DIR} ${case}
                     --dumper $<TARGET_FILE:dump_logits>)
    set_tests_properties(reference/${case} PROPERTIES TIMEOUT 120 LABELS reference)
  endforeach()
endfunction()
cmake_language(DEFER CALL rk_reference_engine_tests)
