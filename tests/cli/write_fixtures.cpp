// Writes the files the command-line tests feed to `rapid`: a well-formed GGUF of an unsupported
// architecture. usage: write_fixtures DIR
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "gguf_writer.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return std::fprintf(stderr, "usage: write_fixtures DIR\n"), 2;
  using namespace rapid::test;
  const auto bytes = gguf_builder()
                         .kv("general.architecture", gguf_string("mamba"))
                         .kv("general.name", gguf_string("not a transformer rapid runs"))
                         .tensor("token_embd.weight", rapid::dtype::f32, {8, 4}, filler_bytes(8 * 4 * 4))
                         .build();
  std::ofstream out(std::filesystem::path(argv[1]) / "unsupported_arch.gguf", std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return out ? 0 : 1;
}
