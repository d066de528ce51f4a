#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rapid/io/safetensors.hpp"
#include "test_support.hpp"

using rapid::io::safetensors_dtype;
using rapid::io::safetensors_file;

namespace {

static_assert(std::endian::native == std::endian::little, "the in-test writer stores values in host order");

using bytes = std::vector<std::byte>;

template <typename T>
bytes le_bytes(std::initializer_list<T> values) {
  bytes out(values.size() * sizeof(T));
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

/// A file from a literal header and data buffer; `header_length` overrides the true length.
bytes make_file(std::string_view header, const bytes& buffer = {}, std::optional<std::uint64_t> header_length = {}) {
  const std::uint64_t n = header_length.value_or(header.size());
  bytes out(8);
  for (std::size_t i = 0; i < 8; ++i) out[i] = std::byte(n >> (8 * i) & 0xff);
  for (char c : header) out.push_back(std::byte(static_cast<unsigned char>(c)));
  out.insert(out.end(), buffer.begin(), buffer.end());
  return out;
}

struct raw_tensor {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  bytes data;
};

/// A valid file laid out like the official writer: tensors packed in the given order, the header
/// padded with spaces to a multiple of 8, plus `extra_spaces` to misalign the data on purpose.
bytes write_safetensors(const std::vector<raw_tensor>& tensors, const std::map<std::string, std::string>& metadata = {},
                        std::size_t extra_spaces = 0) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  bytes buffer;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {buffer.size(), buffer.size() + t.data.size()}}};
    buffer.insert(buffer.end(), t.data.begin(), t.data.end());
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8 + extra_spaces, ' ');
  return make_file(text, buffer);
}

std::vector<raw_tensor> sample_tensors() {
  return {
      {"embeddings.weight", "F32", {2, 3}, le_bytes<float>({1.f, -2.f, 0.5f, 3.25f, -0.f, 1e-3f})},
      {"norm.half", "F16", {3}, le_bytes<std::uint16_t>({0x3c00, 0xc000, 0x0001})}, // 1, -2, 2^-24
      {"norm.brain", "BF16", {2}, le_bytes<std::uint16_t>({0x3fc0, 0xc2f7})},       // 1.5, -123.5
      {"position_ids", "I64", {1, 2}, le_bytes<std::int64_t>({0, 1})},
  };
}

struct outcome {
  bool threw = false;
  std::string what, item;
};

/// Parses `file` expecting a rapid::format_error; reports what it said.
outcome format_error_of(const bytes& file) {
  try {
    (void)safetensors_file::from_bytes(file, "mem.safetensors");
  } catch (const rapid::format_error& e) {
    return {true, e.what(), e.where().item};
  } catch (const std::exception& e) {
    return {false, std::string("wrong exception type: ") + e.what(), {}};
  }
  return {false, "parsed without error", {}};
}

void check_rejected(const bytes& file, std::string_view item, std::string_view text) {
  const auto r = format_error_of(file);
  INFO(r.what);
  CHECK(r.threw);
  CHECK(r.item == item);
  CHECK(r.what.find(text) != std::string::npos);
  CHECK(r.what.find("mem.safetensors") != std::string::npos);
  if (!item.empty()) CHECK(r.what.find("'" + std::string(item) + "'") != std::string::npos);
}

/// Reads everything a successful parse exposes, so ASan sees any span that points outside the file.
void touch(const safetensors_file& f) {
  unsigned sum = 0;
  for (const auto& t : f.tensors()) {
    for (std::byte b : t.data) sum += std::to_integer<unsigned>(b);
    const auto& dt = t.dtype;
    if (dt == safetensors_dtype::f32 || dt == safetensors_dtype::f16 || dt == safetensors_dtype::bf16 ||
        dt == safetensors_dtype::f64)
      for (float v : f.to_f32(t.name)) sum += std::isnan(v) ? 1u : 0u;
    try {
      for (float v : f.as_f32(t.name)) sum += v > 0 ? 1u : 0u;
    } catch (const rapid::error&) {
    }
  }
  for (const auto& [k, v] : f.metadata()) sum += static_cast<unsigned>(k.size() + v.size());
  (void)sum;
}

enum class result { parsed, rejected, crashed_out };

/// Parse bytes copied into an exactly sized heap buffer, so ASan flags any read past its end.
result parse_exact(const bytes& file, std::size_t length) {
  const bytes copy(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(length));
  try {
    touch(safetensors_file::from_bytes(copy, "fuzz.safetensors"));
    return result::parsed;
  } catch (const rapid::error&) {
    return result::rejected;
  } catch (...) {
    return result::crashed_out;
  }
}

} // namespace

TEST_CASE("safetensors: round trip of a small file") {
  const auto file = write_safetensors(sample_tensors(), {{"format", "pt"}, {"note", "héllo"}});
  const auto f = safetensors_file::from_bytes(file, "mem.safetensors");

  REQUIRE(f.tensors().size() == 4);
  // Listed in data-offset order, not the header's (alphabetical) key order.
  CHECK(f.tensors()[0].name == "embeddings.weight");
  CHECK(f.tensors()[1].name == "norm.half");
  CHECK(f.tensors()[2].name == "norm.brain");
  CHECK(f.tensors()[3].name == "position_ids");
  CHECK(f.data_offset() % 8 == 0);
  CHECK(f.metadata() == std::map<std::string, std::string>{{"format", "pt"}, {"note", "héllo"}});

  const auto& e = f.tensor("embeddings.weight");
  CHECK(e.dtype == safetensors_dtype::f32);
  CHECK(e.shape == std::vector<std::uint64_t>{2, 3});
  CHECK(e.n_elements == 6);
  CHECK(e.data.size() == 24);
  CHECK(e.offset == f.data_offset());
  const auto values = f.as_f32("embeddings.weight");
  CHECK(std::vector<float>(values.begin(), values.end()) == std::vector<float>{1.f, -2.f, 0.5f, 3.25f, -0.f, 1e-3f});
  CHECK(f.to_f32("embeddings.weight") == std::vector<float>(values.begin(), values.end()));
  CHECK(f.to_f32("norm.half") == std::vector<float>{1.f, -2.f, std::ldexp(1.f, -24)});
  CHECK(f.to_f32("norm.brain") == std::vector<float>{1.5f, -123.5f});

  const auto& ids = f.tensor("position_ids");
  CHECK(ids.dtype == safetensors_dtype::i64);
  CHECK(ids.offset == f.data_offset() + 24 + 6 + 4);
  std::int64_t second = 0;
  std::memcpy(&second, ids.data.data() + 8, 8);
  CHECK(second == 1);

  CHECK(f.contains("norm.half"));
  CHECK_FALSE(f.contains("norm"));
  CHECK(rapid::io::name_of(safetensors_dtype::bf16) == "BF16");
  CHECK(rapid::io::size_of(safetensors_dtype::i64) == 8);
}

TEST_CASE("safetensors: typed access checks dtype, alignment and names") {
  SUBCASE("a missing tensor names itself and suggests close names") {
    const auto file = write_safetensors(sample_tensors());
    const auto f = safetensors_file::from_bytes(file, "mem.safetensors");
    try {
      (void)f.tensor("embedings.weight");
      FAIL("expected invalid_argument");
    } catch (const rapid::invalid_argument& err) {
      const std::string what = err.what();
      CHECK(err.where().item == "embedings.weight");
      CHECK(what.find("did you mean 'embeddings.weight'") != std::string::npos);
    }
    try {
      (void)f.tensor("bert.norm.half"); // a prefix the file does not use
      FAIL("expected invalid_argument");
    } catch (const rapid::invalid_argument& err) {
      CHECK(std::string(err.what()).find("'norm.half'") != std::string::npos);
    }
    CHECK_THROWS_AS((void)f.as_f32("norm.half"), rapid::invalid_argument);    // F16 is not F32
    CHECK_THROWS_AS((void)f.to_f32("position_ids"), rapid::invalid_argument); // no integer conversion
  }
  SUBCASE("misaligned F32 data: as_f32 refuses, to_f32 copies") {
    const auto file = write_safetensors(sample_tensors(), {}, 1); // data starts at an odd address
    const auto f = safetensors_file::from_bytes(file, "mem.safetensors");
    CHECK(f.data_offset() % 8 == 1);
    CHECK_THROWS_AS((void)f.as_f32("embeddings.weight"), rapid::unsupported_error);
    CHECK(f.to_f32("embeddings.weight") == std::vector<float>{1.f, -2.f, 0.5f, 3.25f, -0.f, 1e-3f});
  }
  SUBCASE("edge cases that are valid") {
    const auto empty = make_file("{}");
    CHECK(safetensors_file::from_bytes(empty, "mem").tensors().empty());
    const auto padded = make_file("  {\"__metadata__\":{}}   \n\t ");
    CHECK(safetensors_file::from_bytes(padded, "mem").metadata().empty());
    // A scalar, and zero-element tensors sharing an offset with their neighbours.
    const auto file = make_file(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                                R"("z1":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
                                R"("z2":{"dtype":"I8","shape":[5,0],"data_offsets":[4,4]},)"
                                R"("big0":{"dtype":"F64","shape":[18446744073709551615,0],"data_offsets":[4,4]}})",
                                le_bytes<float>({7.f}));
    const auto f = safetensors_file::from_bytes(file, "mem");
    CHECK(f.tensors().size() == 4);
    CHECK(f.tensor("s").n_elements == 1);
    CHECK(f.to_f32("s") == std::vector<float>{7.f});
    CHECK(f.tensor("big0").n_elements == 0);
    CHECK(f.as_f32("z1").empty());
  }
}

TEST_CASE("safetensors: path constructor maps the file") {
  const auto path = std::filesystem::temp_directory_path() / "rapid_test_safetensors.safetensors";
  const auto file = write_safetensors(sample_tensors());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
  {
    safetensors_file f(path.string());
    safetensors_file moved = std::move(f); // spans point into the mapping, which moves along
    CHECK(moved.path() == path.string());
    CHECK(moved.as_f32("embeddings.weight")[3] == 3.25f);
  }
  std::filesystem::remove(path);
  CHECK_THROWS_AS(safetensors_file(path.string()), rapid::io_error);
}

TEST_CASE("safetensors: every malformed header is a format_error naming the item") {
  const bytes eight(8), twelve(12), twenty(20);
  const std::string a8 = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

  SUBCASE("file too short for the header length") {
    for (std::size_t n = 0; n < 8; ++n) {
      CAPTURE(n);
      check_rejected(bytes(n), "", "too short");
    }
  }
  SUBCASE("header length") {
    check_rejected(make_file("{}", {}, 3), "", "runs past the end");
    check_rejected(make_file("{}", {}, ~std::uint64_t{0}), "", "exceeds the 100 MB limit");
    check_rejected(make_file("{}", {}, 100'000'001), "", "exceeds the 100 MB limit");
    check_rejected(make_file("", {}), "", "not valid JSON");
  }
  SUBCASE("JSON") {
    check_rejected(make_file(R"({"a":)"), "", "not valid JSON");
    check_rejected(make_file("{\"a\xff\":1}"), "", "not valid JSON"); // invalid UTF-8
    check_rejected(make_file("{" + a8 + "} x", eight), "", "not valid JSON");
    check_rejected(make_file("/**/{" + a8 + "}", eight), "", "not valid JSON");
    check_rejected(make_file("[1,2]"), "", "not a JSON object");
    check_rejected(make_file(R"("text")"), "", "not a JSON object");
    check_rejected(make_file(std::string(1000, '[') + std::string(1000, ']')), "", "nested deeper");
    const auto r = format_error_of(make_file(R"({"a":})"));
    CHECK(r.what.find("offset 13") != std::string::npos); // the '}' at 8 + 5
  }
  SUBCASE("duplicates") {
    check_rejected(make_file("{" + a8 + "," + a8 + "}", eight), "a", "duplicate tensor name");
    check_rejected(make_file(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight),
                   "dtype", "duplicate key");
    check_rejected(make_file(R"({"__metadata__":{"k":"1","k":"2"}})"), "k", "duplicate key");
  }
  SUBCASE("tensor entries") {
    check_rejected(make_file(R"({"a":5})"), "a", "not an object");
    check_rejected(make_file(R"({"a":{"dtype":"F32","shape":[2]}})", eight), "a", "no 'data_offsets'");
    check_rejected(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", eight), "a",
                   "unexpected field 'x'");
    check_rejected(make_file(R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", eight), "a", "unknown dtype \"F33\"");
    check_rejected(make_file(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", eight), "a", "unknown dtype");
    check_rejected(make_file(R"({"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", eight), "a", "unknown dtype");
  }
  SUBCASE("shapes") {
    for (const char* shape : {"3", "[-1]", "[1.5]", "[\"2\"]", "[2,null]", "{}", "[[2]]", "[1e2]", "[18446744073709551616]"}) {
      CAPTURE(shape);
      check_rejected(make_file(std::string(R"({"a":{"dtype":"F32","shape":)") + shape + R"(,"data_offsets":[0,8]}})", eight),
                     "a", "shape");
    }
    check_rejected(make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,8]}})", eight),
                   "a", "more elements than fit in 64 bits");
    check_rejected(make_file(R"({"a":{"dtype":"F32","shape":[4611686018427387905],"data_offsets":[0,8]}})", eight),
                   "a", "more bytes than fit in 64 bits");
  }
  SUBCASE("data offsets") {
    for (const char* offsets : {"\"0,8\"", "[0]", "[0,8,16]", "[-1,8]", "[0,8.0]", "[null,8]", "{}"}) {
      CAPTURE(offsets);
      check_rejected(make_file(std::string(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":)") + offsets + "}}", eight),
                     "a", "data_offsets is not two");
    }
    check_rejected(make_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight), "a", "is after end");
    check_rejected(make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight), "a",
                   "beyond the data buffer");
    check_rejected(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight), "a", "needs 12");
  }
  SUBCASE("tensors must tile the data buffer") {
    check_rejected(make_file("{" + a8 + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", twelve), "b",
                   "overlaps tensor 'a'");
    check_rejected(make_file("{" + a8 + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight), "b",
                   "overlaps tensor 'a'");
    check_rejected(make_file("{" + a8 + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", twenty), "b",
                   "4 bytes before this tensor belong to no tensor");
    check_rejected(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", twelve), "a",
                   "4 bytes before this tensor");
    check_rejected(make_file("{" + a8 + "}", twelve), "", "4 bytes at the end of the data buffer");
    check_rejected(make_file("{}", eight), "", "8 bytes at the end");
  }
  SUBCASE("metadata") {
    check_rejected(make_file(R"({"__metadata__":{"format":"pt","n":1}})"), "n", "metadata value is not a string");
    check_rejected(make_file(R"({"__metadata__":{"k":null}})"), "k", "not a string");
    check_rejected(make_file(R"({"__metadata__":["pt"]})"), "__metadata__", "not an object");
  }
}

TEST_CASE("safetensors: all-MiniLM-L6-v2 matches the independent reference") {
  const auto model = rapid::test::cached("models/all-minilm-l6-v2/model.safetensors");
  if (!model) return;
  const auto reference_path = rapid::test::cached("reference/safetensors/minilm.json");
  if (!reference_path) return; // written by scripts/reference_safetensors.py
  const auto reference = nlohmann::json::parse(std::ifstream(*reference_path));

  const safetensors_file f(model->string());
  REQUIRE(reference.at("file_size").get<std::uint64_t>() == std::filesystem::file_size(*model)); // stale reference?
  CHECK(f.data_offset() == 8 + reference.at("header_length").get<std::uint64_t>());
  CHECK(f.metadata() == reference.at("metadata").get<std::map<std::string, std::string>>());
  const auto& expected = reference.at("tensors");
  REQUIRE(f.tensors().size() == expected.size());
  CHECK(f.tensors().size() > 50);

  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& want = expected[i];
    const auto& t = f.tensors()[i];
    CAPTURE(t.name);
    CHECK(t.name == want.at("name").get<std::string>());
    CHECK(rapid::io::name_of(t.dtype) == want.at("dtype").get<std::string>());
    CHECK(t.shape == want.at("shape").get<std::vector<std::uint64_t>>());
    CHECK(t.offset - f.data_offset() == want.at("data_offsets")[0].get<std::uint64_t>());
    if (!want.contains("sum")) continue;

    std::vector<double> values;
    if (t.dtype == safetensors_dtype::i64) {
      for (std::size_t k = 0; k < t.n_elements; ++k) {
        std::int64_t v = 0;
        std::memcpy(&v, t.data.data() + 8 * k, 8);
        values.push_back(static_cast<double>(v));
      }
    } else {
      const auto floats = f.to_f32(t.name);
      values.assign(floats.begin(), floats.end());
      // The official writer pads the header to 8 bytes, so in-place access works on this file.
      if (t.dtype == safetensors_dtype::f32 && f.data_offset() % alignof(float) == 0)
        CHECK(std::equal(floats.begin(), floats.end(), f.as_f32(t.name).begin()));
    }
    double sum = 0;
    for (double v : values) sum += v;
    // Tolerance: the worst-case error of naive double summation, n * 2^-52 * sum|x|; the
    // reference sum is exactly rounded (math.fsum).
    const double tolerance = static_cast<double>(values.size()) * 0x1p-52 * want.at("abs_sum").get<double>() + 1e-300;
    CHECK(std::abs(sum - want.at("sum").get<double>()) <= tolerance);
    const auto first = want.at("first").get<std::vector<double>>();
    REQUIRE(first.size() == std::min<std::size_t>(4, values.size()));
    for (std::size_t k = 0; k < first.size(); ++k) CHECK(values[k] == first[k]); // exact: floats print exactly
  }
}

TEST_SUITE("robustness") {
  TEST_CASE("safetensors: every truncation is rejected cleanly") {
    const auto file = write_safetensors(sample_tensors(), {{"format", "pt"}});
    for (std::size_t length = 0; length <= file.size(); ++length) {
      CAPTURE(length);
      CHECK(parse_exact(file, length) == (length == file.size() ? result::parsed : result::rejected));
    }
    // Truncate the JSON itself, with the header length rewritten to match.
    const std::size_t n = static_cast<std::size_t>(safetensors_file::from_bytes(file, "mem").data_offset() - 8);
    const std::string header(reinterpret_cast<const char*>(file.data()) + 8, n);
    const bytes data(file.begin() + static_cast<std::ptrdiff_t>(8 + n), file.end());
    for (std::size_t length = 0; length < n; ++length) {
      CAPTURE(length);
      const auto cut = make_file(header.substr(0, length), data);
      const auto r = parse_exact(cut, cut.size());
      // Cutting only the trailing padding spaces leaves a valid file.
      CHECK(r == (header.find_first_not_of(' ', length) == std::string::npos ? result::parsed : result::rejected));
    }
  }

  TEST_CASE("safetensors: random byte flips parse or fail cleanly") {
    const auto file = write_safetensors(sample_tensors(), {{"format", "pt"}});
    const std::size_t header_end = static_cast<std::size_t>(safetensors_file::from_bytes(file, "mem").data_offset());
    std::mt19937_64 rng(20240611);
    const std::string_view json_chars = "0123456789-+.eE[]{}\",: \\u";
    int parsed = 0, rejected = 0;
    for (int round = 0; round < 6000; ++round) {
      bytes mutated = file;
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int k = 0; k < flips; ++k) {
        // Mostly the header, where parsing happens; sometimes anywhere, including the length.
        const std::size_t at = rng() % 4 == 0 ? rng() % mutated.size() : rng() % header_end;
        if (rng() % 2) mutated[at] ^= std::byte(1 + rng() % 255);
        else mutated[at] = std::byte(static_cast<unsigned char>(json_chars[rng() % json_chars.size()]));
      }
      CAPTURE(round);
      const auto r = parse_exact(mutated, mutated.size());
      CHECK(r != result::crashed_out);
      (r == result::parsed ? parsed : rejected) += 1;
    }
    MESSAGE("byte flips: " << parsed << " parsed, " << rejected << " rejected");
    CHECK(rejected > 0);
  }
}
