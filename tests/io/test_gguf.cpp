#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gguf_writer.hpp"
#include "rapid/io/gguf.hpp"
#include "test_support.hpp"

using rapid::dtype;
using rapid::io::gguf_file;
using rapid::io::gguf_type;
namespace t = rapid::test;

namespace {

// A small file exercising every value type, nested arrays and three tensors of different types.
t::gguf_builder sample_builder() {
  using enum gguf_type;
  t::gguf_builder b;
  b.kv("general.architecture", t::gguf_string("llama"))
      .kv("test.u8", t::gguf_scalar<std::uint8_t>(u8, 200))
      .kv("test.i8", t::gguf_scalar<std::int8_t>(i8, -100))
      .kv("test.u16", t::gguf_scalar<std::uint16_t>(u16, 60000))
      .kv("test.i16", t::gguf_scalar<std::int16_t>(i16, -30000))
      .kv("llama.block_count", t::gguf_scalar<std::uint32_t>(u32, 30))
      .kv("test.i32", t::gguf_scalar<std::int32_t>(i32, -5))
      .kv("test.f32", t::gguf_scalar<float>(f32, 1e-5f))
      .kv("test.bool", t::gguf_scalar<std::uint8_t>(boolean, 1))
      .kv("test.u64", t::gguf_scalar<std::uint64_t>(u64, 1ull << 40))
      .kv("test.i64", t::gguf_scalar<std::int64_t>(i64, -(1ll << 40)))
      .kv("test.f64", t::gguf_scalar<double>(f64, 1e6))
      .kv("tokenizer.ggml.tokens", t::gguf_array_of(string, {t::gguf_string("a"), t::gguf_string("<|im_start|>"),
                                                            t::gguf_string("\xc3\xa9")}))
      .kv("test.scores", t::gguf_array_of(f32, {t::gguf_scalar<float>(f32, 0.5f), t::gguf_scalar<float>(f32, -1.f)}))
      .kv("test.nested", t::gguf_array_of(array, {t::gguf_array_of(i32, {t::gguf_scalar<std::int32_t>(i32, 7)}),
                                                  t::gguf_array_of(i32, {})}))
      .kv("test.empty", t::gguf_array_of(u64, {}));
  b.tensor("token_embd.weight", dtype::q8_0, {64, 3}, t::filler_bytes(34 * 2 * 3))
      .tensor("blk.0.attn_norm.weight", dtype::f32, {64}, t::filler_bytes(64 * 4, 7))
      .tensor("output.weight", dtype::q4_k, {256, 2}, t::filler_bytes(144 * 2, 9));
  return b;
}

std::vector<std::byte> sample_bytes(std::uint32_t version = 3) { return sample_builder().build(version); }

template <class Error = rapid::format_error>
std::string expect_error(const std::vector<std::byte>& bytes) {
  std::string message;
  CHECK_THROWS_AS([&] {
    try {
      (void)gguf_file::from_bytes(bytes, "bad.gguf");
    } catch (const rapid::error& e) {
      message = e.what();
      throw;
    }
  }(), Error);
  CHECK(message.rfind("bad.gguf", 0) == 0);  // every message names the file first
  return message;
}

void put_u64(std::vector<std::byte>& bytes, std::size_t at, std::uint64_t v) { std::memcpy(bytes.data() + at, &v, 8); }
void put_u32(std::vector<std::byte>& bytes, std::size_t at, std::uint32_t v) { std::memcpy(bytes.data() + at, &v, 4); }

// Byte offset of the first occurrence of `needle` in the serialised file.
std::size_t find_bytes(const std::vector<std::byte>& bytes, std::string_view needle) {
  for (std::size_t i = 0; i + needle.size() <= bytes.size(); ++i)
    if (std::memcmp(bytes.data() + i, needle.data(), needle.size()) == 0) return i;
  FAIL("needle not found: " << needle);
  return 0;
}

} // namespace

TEST_CASE("gguf: every value type round-trips through typed accessors") {
  for (std::uint32_t version : {2u, 3u}) {
    const auto f = gguf_file::from_bytes(sample_bytes(version), "sample.gguf");
    CHECK(f.version() == version);
    CHECK(f.metadata().size() == 16);
    CHECK(f.get<std::string>("general.architecture") == "llama");
    CHECK(f.get<std::uint32_t>("llama.block_count") == 30);
    CHECK(f.get<int>("llama.block_count") == 30);
    CHECK(f.get<std::uint8_t>("test.u8") == 200);
    CHECK(f.get<int>("test.i8") == -100);
    CHECK(f.get<std::uint16_t>("test.u16") == 60000);
    CHECK(f.get<std::int16_t>("test.i16") == -30000);
    CHECK(f.get<std::int64_t>("test.i32") == -5);
    CHECK(f.get<float>("test.f32") == 1e-5f);
    CHECK(f.get<bool>("test.bool"));
    CHECK(f.get<std::uint64_t>("test.u64") == (1ull << 40));
    CHECK(f.get<std::int64_t>("test.i64") == -(1ll << 40));
    CHECK(f.get<double>("test.f64") == 1e6);
    const auto tokens = f.get<std::vector<std::string_view>>("tokenizer.ggml.tokens");
    REQUIRE(tokens.size() == 3);
    CHECK(tokens[1] == "<|im_start|>");
    CHECK(tokens[2] == "\xc3\xa9");
    CHECK(f.get<std::vector<float>>("test.scores") == std::vector<float>{0.5f, -1.f});
    const auto nested = f.get<std::vector<std::vector<int>>>("test.nested");
    REQUIRE(nested.size() == 2);
    CHECK(nested[0] == std::vector<int>{7});
    CHECK(nested[1].empty());
    CHECK(f.get<std::vector<std::uint64_t>>("test.empty").empty());
    CHECK(std::get<rapid::io::gguf_array>(f.find("test.empty")->data).element_type == gguf_type::u64);
    CHECK(f.get_or<std::uint32_t>("llama.missing", 7) == 7);
  }
}

TEST_CASE("gguf: typed accessors refuse mismatched types and out-of-range integers") {
  const auto f = gguf_file::from_bytes(sample_bytes(), "sample.gguf");
  CHECK_THROWS_WITH_AS((void)f.get<std::uint32_t>("no.such.key"), doctest::Contains("'no.such.key': missing metadata key"),
                       rapid::format_error);
  CHECK_THROWS_WITH_AS((void)f.get<std::string>("llama.block_count"), doctest::Contains("has type u32, expected string"),
                       rapid::format_error);
  CHECK_THROWS_WITH_AS((void)f.get<std::uint8_t>("test.u16"), doctest::Contains("does not fit"), rapid::format_error);
  CHECK_THROWS_WITH_AS((void)f.get<std::uint32_t>("test.i32"), doctest::Contains("does not fit"), rapid::format_error);
  CHECK_THROWS_AS((void)f.get<float>("test.u8"), rapid::format_error);
  CHECK_THROWS_AS((void)f.get<std::vector<int>>("test.scores"), rapid::format_error);
  CHECK_THROWS_AS((void)f.get<bool>("test.u8"), rapid::format_error);
  CHECK_THROWS_AS((void)f.get_or<std::string>("llama.block_count", "x"), rapid::format_error);
}

TEST_CASE("gguf: tensor infos, alignment and data views") {
  const auto bytes = sample_bytes();
  const auto f = gguf_file::from_bytes(bytes, "sample.gguf");
  REQUIRE(f.tensors().size() == 3);
  CHECK(f.alignment() == 32);
  CHECK(f.data_offset() % 32 == 0);
  const auto& emb = f.tensor("token_embd.weight");
  CHECK(emb.type == dtype::q8_0);
  CHECK(emb.shape == std::vector<std::uint64_t>{64, 3});
  CHECK(emb.n_elements == 192);
  CHECK(emb.rows() == 3);
  CHECK(emb.row_bytes() == 68);
  CHECK(emb.data.size() == 204);
  CHECK(emb.data.data() == f.bytes().data() + emb.offset);
  CHECK(std::memcmp(emb.data.data(), t::filler_bytes(204).data(), 204) == 0);
  const auto& out = f.tensor("output.weight");
  CHECK(out.type == dtype::q4_k);
  CHECK(out.offset % 32 == 0);
  CHECK(std::memcmp(out.data.data(), t::filler_bytes(288, 9).data(), 288) == 0);
  CHECK(f.find_tensor("nope") == nullptr);
  CHECK_THROWS_WITH_AS((void)f.tensor("nope"), doctest::Contains("'nope': missing tensor"), rapid::format_error);

  // A custom alignment moves the data section and is honoured.
  auto b = sample_builder();
  b.kv("general.alignment", t::gguf_scalar<std::uint32_t>(gguf_type::u32, 64));
  const auto f64 = gguf_file::from_bytes(b.build(3, 64), "aligned.gguf");
  CHECK(f64.alignment() == 64);
  CHECK(f64.data_offset() % 64 == 0);
  CHECK(std::memcmp(f64.tensor("output.weight").data.data(), t::filler_bytes(288, 9).data(), 288) == 0);
}

TEST_CASE("gguf: each kind of malformed header gives a clean format_error") {
  const auto good = sample_bytes();
  const std::size_t header_end = 24;  // magic, version, n_tensors, n_kv

  SUBCASE("bad magic") {
    auto bytes = good;
    bytes[0] = std::byte{'X'};
    CHECK(expect_error(bytes).find("not a GGUF file") != std::string::npos);
  }
  SUBCASE("unsupported versions") {
    for (std::uint32_t v : {1u, 4u, 0x03000000u}) {
      auto bytes = good;
      put_u32(bytes, 4, v);
      expect_error<rapid::unsupported_error>(bytes);
    }
  }
  SUBCASE("counts larger than the file") {
    auto bytes = good;
    put_u64(bytes, 16, 1ull << 60);
    CHECK(expect_error(bytes).find("metadata count") != std::string::npos);
    bytes = good;
    put_u64(bytes, 8, 1ull << 40);
    CHECK(expect_error(bytes).find("tensor count") != std::string::npos);
  }
  SUBCASE("string length beyond the end") {
    auto bytes = good;
    put_u64(bytes, header_end, 1ull << 62);
    CHECK(expect_error(bytes).find("string length") != std::string::npos);
  }
  SUBCASE("unknown value type id") {
    auto bytes = good;
    const auto at = find_bytes(bytes, "general.architecture") + std::string_view("general.architecture").size();
    put_u32(bytes, at, 13);
    const auto msg = expect_error(bytes);
    CHECK(msg.find("unknown metadata value type id 13") != std::string::npos);
    CHECK(msg.find("'general.architecture'") != std::string::npos);
  }
  SUBCASE("array count beyond the end names the key") {
    auto bytes = good;
    const auto at = find_bytes(bytes, "tokenizer.ggml.tokens") + std::string_view("tokenizer.ggml.tokens").size() + 8;
    put_u64(bytes, at, 1ull << 59);
    CHECK(expect_error(bytes).find("'tokenizer.ggml.tokens'") != std::string::npos);
  }
  SUBCASE("invalid bool byte") {
    auto bytes = good;
    const auto at = find_bytes(bytes, "test.bool") + std::string_view("test.bool").size() + 4;
    bytes[at] = std::byte{7};
    CHECK(expect_error(bytes).find("neither 0 nor 1") != std::string::npos);
  }
  SUBCASE("duplicate key") {
    auto b = sample_builder();
    b.kv("llama.block_count", t::gguf_scalar<std::uint32_t>(gguf_type::u32, 31));
    CHECK(expect_error(b.build()).find("duplicate metadata key") != std::string::npos);
  }
  SUBCASE("duplicate tensor name") {
    auto b = sample_builder();
    b.tensor("output.weight", dtype::f32, {4}, t::filler_bytes(16));
    CHECK(expect_error(b.build()).find("duplicate tensor name") != std::string::npos);
  }
  SUBCASE("bad alignment") {
    auto b = sample_builder();
    b.kv("general.alignment", t::gguf_scalar<std::uint32_t>(gguf_type::u32, 24));
    CHECK(expect_error(b.build()).find("power of two") != std::string::npos);
  }
  SUBCASE("arrays nested too deep") {
    auto v = t::gguf_array_of(gguf_type::u8, {});
    for (int i = 0; i < 12; ++i) v = t::gguf_array_of(gguf_type::array, {v});
    auto b = sample_builder();
    b.kv("test.deep", v);
    CHECK(expect_error(b.build()).find("nested deeper") != std::string::npos);
  }
}

TEST_CASE("gguf: each kind of malformed tensor info gives a clean format_error naming the tensor") {
  auto with_tensor = [](dtype type, std::vector<std::uint64_t> shape, std::size_t bytes) {
    t::gguf_builder b;
    b.kv("general.architecture", t::gguf_string("llama"));
    b.tensor("w", type, std::move(shape), t::filler_bytes(bytes));
    return b.build();
  };
  const auto info_at = [](const std::vector<std::byte>& bytes) { return find_bytes(bytes, "w") + 1; };  // after the name

  SUBCASE("too many dimensions") {
    auto bytes = with_tensor(dtype::f32, {4}, 16);
    put_u32(bytes, info_at(bytes), 5);
    CHECK(expect_error(bytes).find("'w': tensor has 5 dimensions") != std::string::npos);
  }
  SUBCASE("overflowing element count") {
    auto bytes = with_tensor(dtype::f32, {4, 4}, 64);
    put_u64(bytes, info_at(bytes) + 4, 1ull << 40);
    put_u64(bytes, info_at(bytes) + 12, 1ull << 40);
    CHECK(expect_error(bytes).find("overflows") != std::string::npos);
  }
  SUBCASE("negative dimension") {
    auto bytes = with_tensor(dtype::f32, {4}, 16);
    put_u64(bytes, info_at(bytes) + 4, ~0ull);
    CHECK(expect_error(bytes).find("negative") != std::string::npos);
  }
  SUBCASE("unknown tensor type") {
    auto bytes = with_tensor(dtype::f32, {4}, 16);
    put_u32(bytes, info_at(bytes) + 12, 31);
    CHECK(expect_error(bytes).find("unknown ggml tensor type id 31") != std::string::npos);
  }
  SUBCASE("row length not a multiple of the block") {
    auto bytes = with_tensor(dtype::f32, {40}, 160);
    put_u32(bytes, info_at(bytes) + 12, static_cast<std::uint32_t>(dtype::q8_0));
    CHECK(expect_error(bytes).find("not a multiple of the Q8_0 block size 32") != std::string::npos);
  }
  SUBCASE("unaligned offset") {
    auto bytes = with_tensor(dtype::f32, {4}, 16);
    put_u64(bytes, info_at(bytes) + 16, 3);
    CHECK(expect_error(bytes).find("not a multiple of the alignment") != std::string::npos);
  }
  SUBCASE("data beyond the end of the file") {
    auto bytes = with_tensor(dtype::f32, {4}, 16);
    put_u64(bytes, info_at(bytes) + 4, 1024);
    CHECK(expect_error(bytes).find("outside the") != std::string::npos);
    bytes = with_tensor(dtype::f32, {4}, 16);
    put_u64(bytes, info_at(bytes) + 16, 1ull << 62);
    CHECK(expect_error(bytes).find("outside the") != std::string::npos);
  }
  SUBCASE("overlapping tensors") {
    t::gguf_builder b;
    b.tensor("a", dtype::f32, {16}, t::filler_bytes(64)).tensor("b", dtype::f32, {16}, t::filler_bytes(64));
    auto bytes = b.build();
    put_u64(bytes, find_bytes(bytes, "b") + 1 + 4 + 8 + 4, 32);  // b's offset inside a
    CHECK(expect_error(bytes).find("overlaps") != std::string::npos);
  }
}

TEST_CASE("gguf: files on disk, missing files and non-GGUF files") {
  const auto dir = std::filesystem::temp_directory_path() / "rapid_test_gguf";
  std::filesystem::create_directories(dir);
  const auto bytes = sample_bytes();
  const auto path = (dir / "sample.gguf").string();
  {
    std::FILE* out = std::fopen(path.c_str(), "wb");
    REQUIRE(out);
    std::fwrite(bytes.data(), 1, bytes.size(), out);
    std::fclose(out);
  }
  gguf_file f(path);
  CHECK(f.get<std::uint32_t>("llama.block_count") == 30);
  gguf_file moved = std::move(f);  // views stay valid across a move
  CHECK(moved.get<std::vector<std::string_view>>("tokenizer.ggml.tokens")[1] == "<|im_start|>");
  CHECK(moved.tensor("blk.0.attn_norm.weight").data.size() == 256);

  CHECK_THROWS_AS(gguf_file((dir / "missing.gguf").string()), rapid::io_error);
  CHECK_THROWS_AS(gguf_file(dir.string()), rapid::io_error);
  const auto empty = (dir / "empty.gguf").string();
  std::fclose(std::fopen(empty.c_str(), "wb"));
  CHECK_THROWS_WITH_AS(gguf_file{empty}, doctest::Contains("not a GGUF file"), rapid::format_error);
  std::filesystem::remove_all(dir);
}

TEST_SUITE("robustness") {
  TEST_CASE("gguf: every truncation of a valid file is refused cleanly") {
    const auto bytes = sample_bytes();
    // The tensor data of the last tensor ends before the final padding; anything shorter must fail.
    const auto full = gguf_file::from_bytes(bytes, "full.gguf");
    const auto& last = full.tensor("output.weight");
    const std::size_t needed = static_cast<std::size_t>(last.offset + last.data.size());
    std::size_t refused = 0;
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      const std::vector<std::byte> prefix(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
      try {
        (void)gguf_file::from_bytes(prefix, "truncated.gguf");
        CHECK(n >= needed);
      } catch (const rapid::error&) {
        ++refused;
      }
    }
    CHECK(refused == needed);
  }

  TEST_CASE("gguf: thousands of random byte flips give a parse or a clean rapid::error") {
    const auto bytes = sample_bytes();
    const auto header_size = static_cast<std::size_t>(gguf_file::from_bytes(bytes, "x").data_offset());
    std::mt19937_64 rng(20250301);
    std::size_t refused = 0, parsed = 0;
    constexpr int trials = 6000;
    for (int trial = 0; trial < trials; ++trial) {
      auto mutated = bytes;
      // Flip 1-4 bytes, mostly in the header where the structure lives.
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) {
        const std::size_t at = rng() % 8 == 0 ? rng() % mutated.size() : rng() % header_size;
        mutated[at] ^= static_cast<std::byte>(1u << (rng() % 8)) | static_cast<std::byte>(rng() % 2 ? 0x80 : 0);
      }
      try {
        const auto f = gguf_file::from_bytes(mutated, "flipped.gguf");
        // A file that parses must be self-consistent: every tensor view inside the file.
        for (const auto& tensor : f.tensors()) {
          REQUIRE(tensor.data.data() >= f.bytes().data());
          REQUIRE(tensor.data.data() + tensor.data.size() <= f.bytes().data() + f.bytes().size());
        }
        ++parsed;
      } catch (const rapid::error& e) {
        REQUIRE(std::string(e.what()).rfind("flipped.gguf", 0) == 0);
        ++refused;
      }
    }
    MESSAGE("byte flips: " << refused << " refused, " << parsed << " parsed");
    CHECK(refused + parsed == trials);
    CHECK(refused > trials / 4);  // the flips do reach the structure
  }
}

TEST_CASE("gguf: real SmolLM2 file") {
  const auto path = t::cached("models/smollm2-135m-instruct-q4_1.gguf");
  if (!path) return;
  gguf_file f(path->string());
  CHECK(f.get<std::string>("general.architecture") == "llama");
  CHECK(f.get<std::uint32_t>("llama.block_count") == 30);
  CHECK(f.get<std::uint32_t>("llama.attention.head_count") == 9);
  CHECK(f.get<std::uint32_t>("llama.attention.head_count_kv") == 3);
  CHECK(f.get<std::vector<std::string_view>>("tokenizer.ggml.tokens").size() == 49152);
  const auto& emb = f.tensor("token_embd.weight");
  CHECK(emb.shape == std::vector<std::uint64_t>{576, 49152});
  // The tensors tile the data section: the last one ends within one alignment of the file end.
  std::uint64_t end = 0;
  for (const auto& tensor : f.tensors()) end = std::max<std::uint64_t>(end, tensor.offset + tensor.data.size());
  CHECK(end <= f.bytes().size());
  CHECK(f.bytes().size() - end < f.alignment());
}
