// Built against an installed rapid through find_package(rapid): proves the package is usable.
#include <rapid/rapid.hpp>

#include <cstdio>

int main() {
  static_assert(rapid::info_of(rapid::dtype::q4_k).block_bytes == 144);
  std::printf("rapid %s consumed: %s\n", RAPID_VERSION_STRING, std::string(rapid::name_of(rapid::dtype::q6_k)).c_str());
  return rapid::info_of(rapid::dtype::q8_0).block_elements == 32 ? 0 : 1;
}
