// Tokenizer encoding throughput (MB/s) on the Paul Graham essays for the Qwen2.5 and SmolLM2
// vocabularies, and encoding time on adversarial inputs (1 MB of one character, 1 MB without
// spaces, 1 MB of random bytes). scripts/bench_tokenizer.sh runs this and times the HF tokenizers
// reference on the same inputs in the same run.
//
// Each iteration is one tokenizer::encode call (a fresh pre-token cache, as a single HF encode);
// the *_warm variants keep an encoder's cache across iterations. With RAPID_BENCH_DUMP_DIR set,
// the inputs are also written there (essays.txt, repeat.txt, nospace.txt, random.bin).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "rapid/model/tokenizer.hpp"

namespace {

namespace fs = std::filesystem;
using rapid::model::tokenizer;

/// $RAPID_CACHE_DIR, else ~/.cache/rapid.
fs::path cache() {
  if (const char* env = std::getenv("RAPID_CACHE_DIR"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return fs::path(home ? home : ".") / ".cache" / "rapid";
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct inputs {
  std::string essays, repeat, nospace, random;
};

const inputs& bench_inputs() {
  static const inputs in = [] {
    inputs x;
    std::vector<fs::path> files;
    const auto dir = cache() / "data" / "paul_graham_essays";
    if (fs::exists(dir))
      for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".txt") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) x.essays += read_all(f);
    constexpr std::size_t mb = 1'000'000;
    x.repeat.assign(mb, 'a');
    // The essays without whitespace, repeated to 1 MB: long runs of letters and punctuation.
    std::string squeezed;
    for (char c : x.essays)
      if (c != ' ' && c != '\n' && c != '\t' && c != '\r') squeezed += c;
    if (squeezed.empty()) squeezed = "nospaces";
    while (x.nospace.size() < mb) x.nospace += squeezed;
    x.nospace.resize(mb);
    std::mt19937_64 rng(42);
    x.random.resize(mb);
    for (auto& c : x.random) c = static_cast<char>(rng() & 0xFF);
    if (const char* dump = std::getenv("RAPID_BENCH_DUMP_DIR"); dump && *dump) {
      fs::create_directories(dump);
      auto write = [&](const char* name, const std::string& data) { std::ofstream(fs::path(dump) / name, std::ios::binary) << data; };
      write("essays.txt", x.essays);
      write("repeat.txt", x.repeat);
      write("nospace.txt", x.nospace);
      write("random.bin", x.random);
    }
    return x;
  }();
  return in;
}

const tokenizer* load(const char* file) {
  static std::vector<std::pair<std::string, std::unique_ptr<tokenizer>>> loaded;
  for (const auto& [name, t] : loaded)
    if (name == file) return t.get();
  const auto path = cache() / "models" / file;
  if (!fs::exists(path)) return nullptr;
  loaded.emplace_back(file, std::make_unique<tokenizer>(tokenizer::from_gguf(path.string())));
  return loaded.back().second.get();
}

const char* model_file(int vocab) {
  return vocab == 0 ? "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" : "smollm2-135m-instruct-q4_1.gguf";
}

const std::string& input(int which) {
  const auto& in = bench_inputs();
  switch (which) {
    case 0: return in.essays;
    case 1: return in.repeat;
    case 2: return in.nospace;
    default: return in.random;
  }
}

void encode(benchmark::State& state, int vocab, int which, bool warm) {
  const auto* t = load(model_file(vocab));
  const auto& text = input(which);
  if (!t || text.empty()) {
    state.SkipWithError("model or essays not in the cache (run scripts/fetch_models.py)");
    return;
  }
  rapid::model::encoder enc(*t);
  std::size_t tokens = 0;
  for (auto _ : state) {
    const auto ids = warm ? enc.encode(text) : t->encode(text);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["bytes"] = static_cast<double>(text.size());
}

void decode(benchmark::State& state, int vocab) {
  const auto* t = load(model_file(vocab));
  const auto& text = input(0);
  if (!t || text.empty()) {
    state.SkipWithError("model or essays not in the cache");
    return;
  }
  const auto ids = t->encode(text);
  for (auto _ : state) {
    auto s = t->decode(ids);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void BM_encode_essays_qwen2(benchmark::State& s) { encode(s, 0, 0, false); }
void BM_encode_essays_smollm(benchmark::State& s) { encode(s, 1, 0, false); }
void BM_encode_essays_warm_qwen2(benchmark::State& s) { encode(s, 0, 0, true); }
void BM_encode_essays_warm_smollm(benchmark::State& s) { encode(s, 1, 0, true); }
void BM_encode_repeat_1MB_qwen2(benchmark::State& s) { encode(s, 0, 1, false); }
void BM_encode_repeat_1MB_smollm(benchmark::State& s) { encode(s, 1, 1, false); }
void BM_encode_nospace_1MB_qwen2(benchmark::State& s) { encode(s, 0, 2, false); }
void BM_encode_nospace_1MB_smollm(benchmark::State& s) { encode(s, 1, 2, false); }
void BM_encode_random_1MB_qwen2(benchmark::State& s) { encode(s, 0, 3, false); }
void BM_encode_random_1MB_smollm(benchmark::State& s) { encode(s, 1, 3, false); }
void BM_decode_essays_qwen2(benchmark::State& s) { decode(s, 0); }
void BM_decode_essays_smollm(benchmark::State& s) { decode(s, 1); }

} // namespace

BENCHMARK(BM_encode_essays_qwen2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode_essays_smollm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode_essays_warm_qwen2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode_essays_warm_smollm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode_repeat_1MB_qwen2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode_repeat_1MB_smollm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode_nospace_1MB_qwen2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode_nospace_1MB_smollm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode_random_1MB_qwen2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode_random_1MB_smollm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_decode_essays_qwen2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_decode_essays_smollm)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
