# Writes OUT: a CTest test for each Criterion test case of PROGRAM, named
# SUITE/CASE as Criterion names it, so that `ctest -R replay/pace` runs one
# case.  Run after PROGRAM is built (tests/CMakeLists.txt), as CMake's
# gtest_discover_tests does for GoogleTest: the cases are what the program
# lists, never a second list to keep.
execute_process(COMMAND "${PROGRAM}" --list OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} --list failed (${rc})")
endif()
string(REPLACE "\n" ";" lines "${listing}")
set(script "# Made by tests/criterion_cases.cmake from ${PROGRAM} --list.\n")
set(suite "")
set(count 0)
foreach(line IN LISTS lines)
  if(line MATCHES "^([A-Za-z0-9_]+): [0-9]+ tests?$")
    set(suite "${CMAKE_MATCH_1}")
  elseif(line MATCHES "── ([A-Za-z0-9_]+)$" AND suite)
    set(case "${suite}/${CMAKE_MATCH_1}")
    string(APPEND script "add_test(\"${case}\" \"${PROGRAM}\" --filter \"${case}\")\n"
                         "set_tests_properties(\"${case}\" PROPERTIES TIMEOUT ${TIMEOUT} LABELS ${LABEL})\n")
    math(EXPR count "${count} + 1")
  endif()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} --list named no test case")
endif()
file(WRITE "${OUT}" "${script}")
