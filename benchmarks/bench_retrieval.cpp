// Retrieval costs on the Paul Graham essays, Release build:
//   BM_chunk_128k          chunking a 128K-token document (Qwen2.5 tokenizer, 512-token chunks)
//   BM_bm25_index_128k     BM25 index of its chunks;  BM_bm25_query_128k: one query
//   BM_embed_chunks/W      MiniLM embedding of 512-token chunks, W windows of 256 word pieces per
//                          chunk (1: truncated as sentence-transformers would; 0: whole chunk)
//   BM_retrieval_32k/R     the whole retrieval step for a 32K-token document: chunk + index + query +
//                          context (R = 0 bm25, 1 dense, 2 hybrid)
//   BM_prefill_qwen15b/N   Qwen2.5-Coder-1.5B prefill of the document's first N tokens (512-token
//                          chunks), the cost that retrieval is compared with
// Models and text come from the cache (scripts/fetch_models.py); threads: OMP_NUM_THREADS.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "rapid/model/encoder.hpp"
#include "rapid/model/tokenizer.hpp"
#include "rapid/model/transformer.hpp"
#include "rapid/retrieval/bm25.hpp"
#include "rapid/retrieval/chunker.hpp"
#include "rapid/retrieval/dense.hpp"
#include "rapid/retrieval/hybrid.hpp"
#include "rapid/retrieval/rag_context.hpp"

namespace {
using namespace rapid;

/// $RAPID_CACHE_DIR, else ~/.cache/rapid (the layout scripts/fetch_models.py writes).
std::filesystem::path cache_dir() {
  if (const char* env = std::getenv("RAPID_CACHE_DIR"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".cache" / "rapid";
}

std::filesystem::path cache() { return cache_dir(); }
const std::string qwen = (cache() / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").string();

const model::tokenizer& target_tokenizer() {
  static const auto t = model::tokenizer::from_gguf(qwen);
  return t;
}

std::shared_ptr<const model::bert_encoder> encoder() {
  static const auto e = std::make_shared<const model::bert_encoder>(model::bert_encoder::from_directory(cache() / "models" / "all-minilm-l6-v2"));
  return e;
}

/// The essays concatenated until the text has at least `tokens` target tokens, cut at that token.
std::string document(std::size_t tokens) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(cache() / "data" / "paul_graham_essays"))
    if (e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string all;
  for (int round = 0; round < 4; ++round)
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      all += ss.str() + "\n\n";
    }
  const auto ids = target_tokenizer().encode(all);
  if (ids.size() < tokens) return all;
  return target_tokenizer().decode(std::span<const model::token>(ids.data(), tokens));
}

const std::string& doc_of(std::size_t tokens) {
  static std::map<std::size_t, std::string> docs;
  auto& d = docs[tokens];
  if (d.empty()) d = document(tokens);
  return d;
}

const std::vector<retrieval::chunk>& chunks_of(std::size_t tokens) {
  static std::map<std::size_t, std::vector<retrieval::chunk>> all;
  auto& c = all[tokens];
  if (c.empty()) c = retrieval::split_document(doc_of(tokens), target_tokenizer());
  return c;
}

constexpr const char* question = "Why do startups that raise too much money early tend to fail?";

void BM_chunk_128k(benchmark::State& state) {
  const auto& doc = doc_of(131072);
  std::size_t n = 0;
  for (auto _ : state) n = retrieval::split_document(doc, target_tokenizer()).size();
  state.counters["chunks"] = static_cast<double>(n);
  state.counters["MB"] = static_cast<double>(doc.size()) / 1e6;
}

void BM_bm25_index_128k(benchmark::State& state) {
  const auto& chunks = chunks_of(131072);
  retrieval::bm25 r;
  for (auto _ : state) r.index(chunks);
  state.counters["chunks"] = static_cast<double>(chunks.size());
  state.counters["terms"] = static_cast<double>(r.vocabulary_size());
}

void BM_bm25_query_128k(benchmark::State& state) {
  const auto& chunks = chunks_of(131072);
  retrieval::bm25 r;
  r.index(chunks);
  for (auto _ : state) benchmark::DoNotOptimize(r.search(question, 8));
}

void BM_embed_chunks(benchmark::State& state) {
  const auto& all = chunks_of(32768);
  const std::vector<retrieval::chunk> chunks(all.begin(), all.begin() + std::min<std::size_t>(16, all.size()));
  retrieval::dense r(encoder(), {.max_windows = static_cast<std::size_t>(state.range(0))});
  for (auto _ : state) r.index(chunks);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * chunks.size()));
  state.counters["windows_per_chunk"] = static_cast<double>(r.windows()) / static_cast<double>(chunks.size());
}

void BM_retrieval_32k(benchmark::State& state) {
  const auto& doc = doc_of(32768);
  retrieval::rag_context ctx;
  std::size_t n_chunks = 0;
  for (auto _ : state) {
    const auto chunks = retrieval::split_document(doc, target_tokenizer());
    n_chunks = chunks.size();
    if (state.range(0) == 0) {
      retrieval::bm25 r;
      ctx = retrieval::build_rag_context(r, chunks, question);
    } else if (state.range(0) == 1) {
      retrieval::dense r(encoder());
      ctx = retrieval::build_rag_context(r, chunks, question);
    } else {
      retrieval::hybrid r(encoder());
      ctx = retrieval::build_rag_context(r, chunks, question);
    }
  }
  state.SetLabel(state.range(0) == 0 ? "bm25" : state.range(0) == 1 ? "dense" : "hybrid");
  state.counters["chunks"] = static_cast<double>(n_chunks);
  state.counters["index_s"] = ctx.index_seconds;
  state.counters["search_s"] = ctx.search_seconds;
}

void BM_prefill_qwen15b(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto ids = target_tokenizer().encode(doc_of(32768));
  const std::span<const model::token> prefix(ids.data(), std::min(n, ids.size()));
  auto weights = std::make_shared<const model::model>(qwen);
  for (auto _ : state) {
    model::transformer t(weights, {.n_ctx = prefix.size() + 16});
    benchmark::DoNotOptimize(t.prefill(prefix, 512));
  }
  state.counters["tokens"] = static_cast<double>(prefix.size());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * prefix.size()));
}

} // namespace

BENCHMARK(BM_chunk_128k)->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK(BM_bm25_index_128k)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_bm25_query_128k)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_embed_chunks)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();
BENCHMARK(BM_retrieval_32k)->DenseRange(0, 2)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();
BENCHMARK(BM_prefill_qwen15b)->Arg(2048)->Arg(4096)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

BENCHMARK_MAIN();
