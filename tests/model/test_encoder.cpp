// The BERT encoder (all-MiniLM-L6-v2) against a float64 numpy forward of the same safetensors file
// (scripts/reference_minilm.py): cosine >= 0.999 on 100 texts, three of them truncated at 256 tokens.
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "rapid/model/encoder.hpp"
#include "test_support.hpp"

using namespace rapid;

namespace {
const model::bert_encoder* minilm() {
  static const auto dir = test::cached("models/all-minilm-l6-v2/model.safetensors");
  if (!dir) return nullptr;
  static const auto enc = model::bert_encoder::from_directory(dir->parent_path());
  return &enc;
}

double cosine(const float* a, const float* b, std::size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < n; ++i) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
  return ab / std::sqrt(aa * bb);
}
} // namespace

TEST_CASE("encoder: sentence embeddings agree with the numpy reference (cosine >= 0.999)") {
  const auto* enc = minilm();
  const auto sentences = test::cached("reference/minilm/sentences.json");
  const auto vectors = test::cached("reference/minilm/embeddings.f32");
  if (!enc || !sentences || !vectors) return;
  std::ifstream js(*sentences);
  const auto texts = nlohmann::json::parse(js).get<std::vector<std::string>>();
  REQUIRE(texts.size() == 100);
  const std::size_t d = enc->dim();
  REQUIRE(d == 384);
  std::vector<float> want(texts.size() * d); // (100, 384)
  std::ifstream vs(*vectors, std::ios::binary);
  vs.read(reinterpret_cast<char*>(want.data()), static_cast<std::streamsize>(want.size() * sizeof(float)));
  REQUIRE(vs.gcount() == static_cast<std::streamsize>(want.size() * sizeof(float)));
  const auto got = enc->embed_texts(texts); // (100, 384)
  double worst = 1.0;
  std::size_t truncated = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const double c = cosine(got.data() + i * d, want.data() + i * d, d);
    worst = std::min(worst, c);
    if (enc->vocab().encode(texts[i]).size() + 2 > enc->max_tokens()) ++truncated;
    INFO("text " << i << ": " << texts[i].substr(0, 60));
    CHECK(c >= 0.999);
    CHECK(cosine(got.data() + i * d, got.data() + i * d, d) == doctest::Approx(1.0));
  }
  MESSAGE("worst cosine " << worst << ", " << truncated << " texts truncated");
  CHECK(truncated >= 3);
  // a batch gives what one call gives
  const auto one = enc->embed(texts[5]);
  CHECK(cosine(one.data(), got.data() + 5 * d, d) > 0.99999);
}

TEST_CASE("encoder: related sentences are closer than unrelated ones") {
  const auto* enc = minilm();
  if (!enc) return;
  const auto a = enc->embed("A man is eating food.");
  const auto b = enc->embed("Someone is having a meal.");
  const auto c = enc->embed("The stock market fell sharply on Tuesday.");
  CHECK(cosine(a.data(), b.data(), 384) > cosine(a.data(), c.data(), 384) + 0.2);
}

TEST_CASE("encoder: windows and bad input") {
  const auto* enc = minilm();
  if (!enc) return;
  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "word" + std::to_string(i % 10) + " ";
  const auto w = enc->windows(long_text);
  REQUIRE(w.size() >= 2);
  for (const auto& win : w) {
    CHECK(win.size() <= enc->max_tokens());
    CHECK(win.front() == enc->vocab().cls());
    CHECK(win.back() == enc->vocab().sep());
  }
  CHECK(enc->windows(long_text, 1).size() == 1);
  CHECK(enc->windows("").size() == 1); // [CLS] [SEP]
  std::vector<float> out(384);
  CHECK_THROWS_AS(enc->embed_ids({}, out), rapid::invalid_argument);
  const std::vector<std::int32_t> bad{101, 40000, 102};
  CHECK_THROWS_AS(enc->embed_ids(bad, out), rapid::invalid_argument);
  const std::vector<std::int32_t> too_long(513, 1000);
  CHECK_THROWS_AS(enc->embed_ids(too_long, out), rapid::capacity_error);
  std::vector<float> small(3);
  CHECK_THROWS_AS(enc->embed_ids(std::vector<std::int32_t>{101, 102}, small), rapid::invalid_argument);
  CHECK_THROWS_AS(model::bert_encoder::from_directory("/nonexistent"), rapid::io_error);
}
