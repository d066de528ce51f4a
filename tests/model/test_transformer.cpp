// The transformer against a naive twin on tiny synthetic models, batching/rollback invariants on
// tiny and real models, and the errors bad input must give.
#include <doctest/doctest.h>

#include <algorithm>
#include <utility>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>
#include <vector>

#include "model/tiny_model.hpp"
#include "rapid/model/transformer.hpp"
#include "test_support.hpp"

using rapid::model::logits_for;
using rapid::model::token_id;
using rapid::model::transformer;
namespace t = rapid::test;

namespace {
double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::abs(a[i] - b[i])));
  return m;
}
std::vector<token_id> some_tokens(std::size_t n, std::size_t vocab, unsigned seed = 3) {
  std::vector<token_id> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<token_id>((i * 37 + seed * 11 + i * i) % vocab);
  return out;
}
const rapid::model::transformer_options exact_options{.n_ctx = 256, .kv = rapid::model::kv_type::f32, .threads = 2,
                                                      .activations = rapid::ops::activation_mode::exact};
} // namespace

TEST_CASE("transformer equals the naive twin on tiny llama and qwen2 models (abs 1e-4)") {
  for (const std::string arch : {"llama", "qwen2"}) {
    for (const bool tied : {false, true}) {
      t::tiny_model m({.arch = arch, .tied = tied});
      transformer tf(m.write("rapid_tiny_" + arch + ".gguf"), exact_options);
      CHECK(tf.config().rope == (arch == "qwen2" ? rapid::ops::rope_style::neox : rapid::ops::rope_style::normal));
      CHECK(tf.config().qkv_bias == (arch == "qwen2"));
      const auto tokens = some_tokens(21, m.spec.vocab);
      const auto got = tf.forward(tokens);
      const auto want = m.forward(tokens);
      INFO(arch << (tied ? " tied" : " untied"));
      CHECK(max_abs_diff(got, want) < 1e-4);
      CHECK(tf.size() == tokens.size());
    }
  }
}

TEST_CASE("transformer: F16 weights and F16 cache stay close to the naive twin") {
  t::tiny_model m({.arch = "qwen2", .matrix_type = rapid::dtype::f16});
  auto options = exact_options;
  options.kv = rapid::model::kv_type::f16;
  transformer tf(m.write("rapid_tiny_f16.gguf"), options);
  const auto tokens = some_tokens(17, m.spec.vocab);
  // The F16 cache rounds K and V to 11 significant bits.
  CHECK(max_abs_diff(tf.forward(tokens), m.forward(tokens)) < 5e-3);
}

TEST_CASE("transformer: N-token forward equals N single forwards; truncate-then-forward reproduces") {
  t::tiny_model m({.arch = "qwen2"});
  const auto path = m.write("rapid_tiny_batch.gguf");
  const auto tokens = some_tokens(40, m.spec.vocab);
  transformer batched(path, exact_options), single(path, exact_options);
  const auto rows = batched.forward(tokens);
  std::vector<float> block(rows.begin(), rows.end());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto row = single.forward(std::span(tokens).subspan(i, 1));
    CHECK(max_abs_diff(row, std::span<const float>(block).subspan(i * m.spec.vocab, m.spec.vocab)) < 1e-5);
  }
  // Roll back 11 positions (a rejected draft) and feed the same tokens again.
  batched.truncate(29);
  CHECK(batched.size() == 29);
  const auto again = batched.forward(std::span(tokens).subspan(29));
  CHECK(max_abs_diff(again, std::span<const float>(block).subspan(29 * m.spec.vocab)) < 1e-5);
  // Chunked prefill's last row equals the block's last row.
  batched.reset();
  std::size_t calls = 0;
  const auto last = batched.prefill(tokens, 7, [&](std::size_t done, std::size_t total) {
    ++calls;
    CHECK(done <= total);
  });
  CHECK(calls == 6);
  CHECK(max_abs_diff(last, std::span<const float>(block).subspan(39 * m.spec.vocab)) < 1e-5);
  CHECK(batched.forward(std::span(tokens).subspan(0, 2), logits_for::last_row).size() == m.spec.vocab);
}

TEST_CASE("transformer: a saved cache snapshot restores the exact state; mismatched snapshots are refused") {
  for (auto kv : {rapid::model::kv_type::f16, rapid::model::kv_type::f32})  // (the tiny model's head_dim 16 is below bf16's 32)
    for (std::size_t n : {1u, 16u, 37u}) {  // inside one key tile, exactly one, across tiles
      t::tiny_model m({.arch = "qwen2"});
      const auto path = m.write("rapid_tiny_snapshot.gguf");
      const auto tokens = some_tokens(n + 5, m.spec.vocab);
      auto options = exact_options;
      options.kv = kv;
      transformer a(path, options), b(path, options);
      a.forward(std::span(tokens).first(n));
      a.evict(0, 0);
      std::stringstream file;
      a.save_cache(file);
      b.forward(std::span(tokens).first(3));  // overwritten by the restore
      b.restore_cache(file);
      CHECK(b.size() == n);
      CHECK(b.position() == a.position());
      const auto rest = std::span(tokens).subspan(n);
      const std::vector<float> expected = [&] { auto r = a.forward(rest); return std::vector<float>(r.begin(), r.end()); }();
      CHECK(max_abs_diff(b.forward(rest), expected) == 0);  // bit for bit
    }
  t::tiny_model m({.arch = "qwen2"});
  const auto path = m.write("rapid_tiny_snapshot.gguf");
  transformer a(path, exact_options);
  a.forward(some_tokens(20, m.spec.vocab));
  std::stringstream file;
  a.save_cache(file);
  const std::string bytes = file.str();
  auto small = exact_options;
  small.n_ctx = 8;
  transformer tiny_ctx(path, small);
  std::stringstream f1(bytes);
  CHECK_THROWS_AS(tiny_ctx.restore_cache(f1), rapid::capacity_error);  // 20 positions > 8
  auto f16 = exact_options;
  f16.kv = rapid::model::kv_type::f16;
  transformer other_type(path, f16);
  std::stringstream f2(bytes);
  CHECK_THROWS_AS(other_type.restore_cache(f2), rapid::format_error);
  std::stringstream f3(bytes.substr(0, bytes.size() / 2));
  transformer b(path, exact_options);
  CHECK_THROWS_AS(b.restore_cache(f3), rapid::format_error);
  CHECK(b.size() == 0);  // a failed restore leaves an empty cache, not a half-written one
  std::stringstream f4("not a snapshot at all, just text that is long enough to fill the header");
  CHECK_THROWS_AS(b.restore_cache(f4), rapid::format_error);
}

TEST_CASE("transformer: bad models and bad input give clear errors") {
  t::tiny_model m({.arch = "llama"});
  SUBCASE("unsupported architecture lists the supported ones") {
    t::tiny_model other({.arch = "gemma3"});
    CHECK_THROWS_WITH_AS(transformer(other.write("rapid_tiny_gemma.gguf")), doctest::Contains("supported: llama, qwen2"),
                         rapid::unsupported_error);
  }
  SUBCASE("missing tensor is named") {
    const auto path = t::tiny_model::write("rapid_tiny_missing.gguf", m.builder("blk.1.ffn_up.weight"));
    CHECK_THROWS_WITH_AS(transformer{path}, doctest::Contains("'blk.1.ffn_up.weight': missing tensor"), rapid::format_error);
  }
  SUBCASE("shape mismatch is named") {
    // The metadata says ff = 96; this tensor has 128 rows.
    auto good_meta = m.builder("blk.0.ffn_gate.weight");
    good_meta.tensor("blk.0.ffn_gate.weight", rapid::dtype::f32, {64, 128}, t::filler_bytes(64 * 128 * 4));
    const auto path = t::tiny_model::write("rapid_tiny_shape.gguf", good_meta);
    CHECK_THROWS_WITH_AS(transformer{path}, doctest::Contains("'blk.0.ffn_gate.weight': tensor shape [64, 128] does not match"),
                         rapid::format_error);
  }
  SUBCASE("token ids out of range, overflow, rollback beyond the cache, context beyond training") {
    const auto path = m.write("rapid_tiny_errors.gguf");
    transformer tf(path, {.n_ctx = 16});
    const std::vector<token_id> bad{1, 96};
    CHECK_THROWS_WITH_AS(tf.forward(bad), doctest::Contains("outside the vocabulary [0, 96)"), rapid::invalid_argument);
    const std::vector<token_id> negative{-1};
    CHECK_THROWS_AS(tf.forward(negative), rapid::invalid_argument);
    CHECK(tf.size() == 0);  // refused input leaves the cache untouched
    const auto ten = some_tokens(10, 96);
    tf.forward(ten);
    CHECK_THROWS_WITH_AS(tf.forward(ten), doctest::Contains("KV cache overflow: 10 positions held + 10 new > capacity 16"),
                         rapid::capacity_error);
    CHECK(tf.size() == 10);
    CHECK_THROWS_AS(tf.prefill(ten), rapid::capacity_error);
    CHECK_THROWS_AS(tf.truncate(11), rapid::invalid_argument);
    CHECK_THROWS_AS(tf.forward(std::span<const token_id>{}), rapid::invalid_argument);
    CHECK_THROWS_WITH_AS(transformer(path, {.n_ctx = 100000}), doctest::Contains("exceeds the 256 positions"), rapid::capacity_error);
  }
}

TEST_CASE("transformer on SmolLM2: batched rows equal single-token rows; truncate reproduces") {
  const auto path = t::cached("models/smollm2-135m-instruct-q4_1.gguf");
  if (!path) return;
  auto model = std::make_shared<const rapid::model::model>(path->string());
  CHECK(model->config().n_layers == 30);
  CHECK(model->config().head_dim == 64);
  CHECK(model->weights().tied_output);
  std::vector<rapid::model::kv_type> types{rapid::model::kv_type::f16, rapid::model::kv_type::q8_0};
  if (t::bf16_cache_readable()) types.push_back(rapid::model::kv_type::bf16);
  for (const auto kv : types) {
  INFO("KV cache " << rapid::ops::name_of(kv));
  transformer batched(model, {.n_ctx = 512, .kv = kv, .threads = 2}), single(model, {.n_ctx = 512, .kv = kv, .threads = 2});
  const auto tokens = some_tokens(48, model->config().n_vocab, 5);
  const std::vector<token_id> prefix(tokens.begin(), tokens.begin() + 37);
  batched.forward(prefix, logits_for::last_row);
  single.forward(prefix, logits_for::last_row);
  // 11 rows at once (a gamma = 10 verification) vs one at a time.
  const auto rows = batched.forward(std::span(tokens).subspan(37));
  const std::vector<float> block(rows.begin(), rows.end());
  const std::size_t v = model->config().n_vocab;
  double worst = 0;
  for (std::size_t i = 37; i < 48; ++i) {
    const auto row = single.forward(std::span(tokens).subspan(i, 1));
    worst = std::max(worst, max_abs_diff(row, std::span<const float>(block).subspan((i - 37) * v, v)));
  }
  MESSAGE("SmolLM2 batched vs single max |dlogit| = " << worst);
  CHECK(worst == 0);  // bit for bit: an output's operations never depend on how many rows share the call
  batched.truncate(40);
  const auto again = batched.forward(std::span(tokens).subspan(40));
  CHECK(max_abs_diff(again, std::span<const float>(block).subspan(3 * v)) < 1e-3);
  }
}

TEST_CASE("transformer on Qwen2.5-0.5B: an 11-token verification equals 11 decode steps bit for bit") {
  // Q5_0 / Q8_0 rows, and Q4_K / Q6_K ffn_down (interleaved where the build has those kernels)
  const auto path = t::cached("models/qwen2.5-coder-0.5b.gguf");
  if (!path) return;
  auto model = std::make_shared<const rapid::model::model>(path->string());
  std::vector<rapid::model::kv_type> types{rapid::model::kv_type::f16, rapid::model::kv_type::q8_0};
  if (t::bf16_cache_readable()) types.push_back(rapid::model::kv_type::bf16);
  for (const auto kv : types) {
  INFO("KV cache " << rapid::ops::name_of(kv));
  transformer batched(model, {.n_ctx = 64, .kv = kv, .threads = 2}), single(model, {.n_ctx = 64, .kv = kv, .threads = 2});
  const auto tokens = some_tokens(31, model->config().n_vocab, 9);
  const std::vector<token_id> prefix(tokens.begin(), tokens.begin() + 20);
  batched.forward(prefix, logits_for::last_row);
  single.forward(prefix, logits_for::last_row);
  const auto rows = batched.forward(std::span(tokens).subspan(20));
  const std::vector<float> block(rows.begin(), rows.end());
  const std::size_t v = model->config().n_vocab;
  double worst = 0;
  for (std::size_t i = 20; i < 31; ++i)
    worst = std::max(worst, max_abs_diff(single.forward(std::span(tokens).subspan(i, 1)),
                                         std::span<const float>(block).subspan((i - 20) * v, v)));
  CHECK(worst == 0);
  }
}

TEST_CASE("kv_cache: erase keeps the other positions, tile-aligned or not, for every cache type") {
  using rapid::model::kv_cache;
  std::vector<rapid::model::kv_type> types{rapid::model::kv_type::f16, rapid::model::kv_type::f32, rapid::model::kv_type::q8_0};
  if (t::bf16_cache_readable()) types.push_back(rapid::model::kv_type::bf16);
  for (const auto type : types) {
    const std::size_t layers = 2, heads = 2, hd = 32, n = 70;
    auto value = [](std::size_t p, std::size_t i) { return static_cast<float>(p) + static_cast<float>(i) / 16.f; };
    std::vector<float> k(heads * hd), v(heads * hd);
    auto fill = [&](kv_cache& c, const std::vector<std::size_t>& positions) {
      for (std::size_t l = 0; l < layers; ++l)
        for (std::size_t slot = 0; slot < positions.size(); ++slot) {
          for (std::size_t i = 0; i < heads * hd; ++i) {
            k[i] = value(positions[slot], i) + static_cast<float>(l);
            v[i] = -value(positions[slot], i) - static_cast<float>(l);
          }
          c.store(l, slot, k.data(), v.data());
        }
      c.commit(positions.size());
    };
    for (const auto& [first, count] : {std::pair<std::size_t, std::size_t>{16, 32}, {4, 20}, {0, 3}, {50, 20}, {65, 1}}) {
      kv_cache erased(layers, heads, hd, 80, type), direct(layers, heads, hd, 80, type);
      std::vector<std::size_t> all(n), kept;
      for (std::size_t p = 0; p < n; ++p) {
        all[p] = p;
        if (p < first || p >= first + count) kept.push_back(p);
      }
      fill(erased, all);
      erased.erase(first, count);
      fill(direct, kept);
      REQUIRE(erased.size() == direct.size());
      INFO("type " << rapid::ops::name_of(type) << " erase " << first << " + " << count);
      std::vector<float> ke(hd), ve(hd), kd(hd), vd(hd);
      for (std::size_t l = 0; l < layers; ++l)
        for (std::size_t h = 0; h < heads; ++h)
          for (std::size_t p = 0; p < kept.size(); ++p) {
            rapid::ops::load_position(type, erased.keys(l, h), erased.values(l, h), p, hd, ke.data(), ve.data());
            rapid::ops::load_position(type, direct.keys(l, h), direct.values(l, h), p, hd, kd.data(), vd.data());
            CHECK(ke == kd);
            CHECK(ve == vd);
            // and the cache holds the position's own numbers (to 8-bit precision for q8_0)
            CHECK(std::abs(ke[hd - 1] - (value(kept[p], h * hd + hd - 1) + static_cast<float>(l))) <= 0.01f * (kept[p] + 3));
          }
    }
  }
}

TEST_CASE("kv_cache: snapshots of odd position counts restore every value; an older format is refused by name") {
  using rapid::model::kv_cache;
  std::vector<rapid::model::kv_type> types{rapid::model::kv_type::f16, rapid::model::kv_type::f32, rapid::model::kv_type::q8_0};
  if (t::bf16_cache_readable()) types.push_back(rapid::model::kv_type::bf16);  // values in position pairs
  const std::size_t layers = 2, heads = 2, hd = 32;
  for (const auto type : types)
    for (const std::size_t n : {1u, 7u, 16u, 33u}) {
      INFO("type " << rapid::ops::name_of(type) << ", " << n << " positions");
      kv_cache a(layers, heads, hd, 48, type), b(layers, heads, hd, 48, type);
      std::vector<float> k(heads * hd), v(heads * hd);
      for (std::size_t p = 0; p < 48; ++p) {  // b holds other numbers everywhere, a's first n are kept
        for (std::size_t i = 0; i < heads * hd; ++i) {
          k[i] = static_cast<float>(p) + static_cast<float>(i) / 64.f;
          v[i] = -k[i];
        }
        for (std::size_t l = 0; l < layers; ++l) {
          if (p < n) a.store(l, p, k.data(), v.data());
          b.store(l, p, v.data(), k.data());
        }
      }
      a.commit(n);
      std::stringstream file;
      a.save(file);
      b.load(file);
      REQUIRE(b.size() == n);
      std::vector<float> ka(hd), va(hd), kb(hd), vb(hd);
      for (std::size_t l = 0; l < layers; ++l)
        for (std::size_t h = 0; h < heads; ++h)
          for (std::size_t p = 0; p < n; ++p) {
            rapid::ops::load_position(type, a.keys(l, h), a.values(l, h), p, hd, ka.data(), va.data());
            rapid::ops::load_position(type, b.keys(l, h), b.values(l, h), p, hd, kb.data(), vb.data());
            CHECK(ka == kb);
            CHECK(va == vb);
          }
    }
  kv_cache c(1, 1, 32, 16, rapid::model::kv_type::f16);
  for (const char version : {'1', '2'}) {  // "RAPIDKv1", "RAPIDKv2"
    std::stringstream old;
    const std::uint64_t magic = (kv_cache::snapshot_magic & ~(0xffull << 56)) | static_cast<std::uint64_t>(version) << 56;
    const std::uint64_t header[6] = {magic, 1, 1, 32, 0, 0};
    old.write(reinterpret_cast<const char*>(header), sizeof header);
    const std::string expected = std::string("older rapid (format v") + version;
    CHECK_THROWS_WITH_AS(c.load(old), doctest::Contains(expected.c_str()), rapid::format_error);
  }
}

TEST_CASE("kv_cache: a q8_0 cache refuses heads it cannot block, and snapshots of another type") {
  using rapid::model::kv_cache;
  CHECK_THROWS_WITH_AS(kv_cache(1, 1, 48, 16, rapid::model::kv_type::q8_0), doctest::Contains("multiple of 32"),
                       rapid::unsupported_error);
  CHECK_THROWS_WITH_AS(kv_cache(1, 1, 1024, 16, rapid::model::kv_type::q8_0), doctest::Contains("at most 512"),
                       rapid::unsupported_error);
  kv_cache q8(2, 2, 64, 32, rapid::model::kv_type::q8_0), f16(2, 2, 64, 32, rapid::model::kv_type::f16);
  std::vector<float> k(2 * 64, 0.5f), v(2 * 64, -0.25f);
  for (std::size_t l = 0; l < 2; ++l) q8.store(l, 0, k.data(), v.data());
  q8.commit(1);
  std::stringstream snapshot;
  q8.save(snapshot);
  CHECK_THROWS_WITH_AS(f16.load(snapshot), doctest::Contains("q8_0) does not match this cache (2, 2, 64, f16)"),
                       rapid::format_error);
  snapshot.seekg(0);
  kv_cache back(2, 2, 64, 32, rapid::model::kv_type::q8_0);
  back.load(snapshot);
  REQUIRE(back.size() == 1);
  std::vector<float> kb(64), vb(64);
  REQUIRE(back.type() == rapid::model::kv_type::q8_0);
  rapid::ops::load_position(rapid::model::kv_type::q8_0, back.keys(1, 1), back.values(1, 1), 0, 64, kb.data(), vb.data());
  CHECK(kb[5] == doctest::Approx(0.5f).epsilon(1e-3));  // 127 codes of an fp16 scale
  CHECK(vb[7] == doctest::Approx(-0.25f).epsilon(1e-3));
}
