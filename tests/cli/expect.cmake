# cmake -DCOMMAND="prog;arg;..." -DEXPECT_RC=N -DEXPECT_TEXT=substr [-DONE_LINE=ON] [-DINPUT=file] -P expect.cmake
# Runs a command-line program and checks its exit status, that its output contains a text, and
# (for errors) that stderr is a single line: bad input must give one actionable line, not a crash.
set(input_args)
if(DEFINED INPUT AND NOT INPUT STREQUAL "")
  set(input_args INPUT_FILE ${INPUT})  # standard input of the command
endif()
execute_process(COMMAND ${COMMAND} ${input_args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc STREQUAL EXPECT_RC)
  message(FATAL_ERROR "exit status ${rc}, expected ${EXPECT_RC}\nstdout: ${out}\nstderr: ${err}")
endif()
string(FIND "${out}${err}" "${EXPECT_TEXT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "output lacks '${EXPECT_TEXT}'\nstdout: ${out}\nstderr: ${err}")
endif()
if(ONE_LINE)
  string(STRIP "${err}" stripped)
  string(FIND "${stripped}" "\n" newline)
  if(NOT newline EQUAL -1 OR stripped STREQUAL "")
    message(FATAL_ERROR "stderr is not one line:\n${err}")
  endif()
endif()
