# Shared by the build tree and the installed package (rapidConfig.cmake includes it).
include(CMakeFindDependencyMacro)
# Debian's xsimd 8 CMake target links a target named xtl: find xtl first.
find_dependency(xtl)
find_dependency(xsimd)
find_dependency(Eigen3 3.3 NO_MODULE)
find_dependency(nlohmann_json 3.10)
if(RAPID_ENABLE_OPENMP OR NOT DEFINED RAPID_ENABLE_OPENMP)
  find_dependency(OpenMP)
endif()
