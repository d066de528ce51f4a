#include <doctest/doctest.h>

#include <string>

#include "rapid/core/version.hpp"

TEST_CASE("version header matches the CMake project version") {
  CHECK(std::string(RAPID_VERSION_STRING) == RAPID_CMAKE_VERSION);
}
