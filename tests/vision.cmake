# The CPU vision encoder (SigLIP + Idefics3 connector from a GGUF mmproj) and
# images placed in a prompt, against the float64 PyTorch reference
# (tests/reference/vision_compare.py). Python is Debian's /usr/bin/python3.
add_executable(dump_vision ${CMAKE_CURRENT_SOURCE_DIR}/tools/dump_vision.c)
target_link_libraries(dump_vision PRIVATE rkcore)
if(EXISTS /usr/bin/python3)
  foreach(case vision-tiny-f32 vision-tiny-f16 vision-tiny-q8_0 vision-odd-f32-batch)
    add_test(NAME reference/${case}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/reference/vision_compare.py ${CMAKE_BINARY_DIR}
                     ${case} --dumper $<TARGET_FILE:dump_vision>)
    set_tests_properties(reference/${case} PROPERTIES TIMEOUT 120 LABELS reference)
  endforeach()
endif()

# A tiny projector next to the engine tests' synthetic models, for unit/test_spans.
add_test(NAME models/synth-vision
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/../models/synth_vision.py --shape tiny --type F16
          --n-embd 64 --seed 3 --out ${CMAKE_BINARY_DIR}/test-models/vision-tiny-f16.gguf -q)
set_tests_properties(models/synth-vision PROPERTIES FIXTURES_SETUP test_models)
set_tests_properties(unit/test_spans PROPERTIES FIXTURES_REQUIRED test_models
  ENVIRONMENT "RKSERVE_TEST_MODELS=${CMAKE_BINARY_DIR}/test-models")
