#pragma once
// Kept equal to project(VERSION) in CMakeLists.txt; tests/core/test_version.cpp checks it.
#define RAPID_VERSION_MAJOR 0
#define RAPID_VERSION_MINOR 1
#define RAPID_VERSION_PATCH 0
#define RAPID_VERSION_STRING "0.1.0"
