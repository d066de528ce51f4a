// Needle retrieval quality: 100 synthetic facts ("needles") inserted at depths 0.5 %, 1.5 %, ...,
// 99.5 % of a long document of Paul Graham essays (default 48K Qwen2.5 tokens), each with a
// paraphrased question that shares the person's name but not the wording of the fact (e.g. fact
// "... keeps the spare house key taped under the third flowerpot ...", question "Where has ... hidden
// the extra key to the home?"). The document is chunked (512 target tokens) and indexed once per
// retriever; recall@k is the fraction of questions whose needle's chunk is among the top k.
// Prints a Markdown table. Not a Google Benchmark: own main.
//
// usage: bench_needles [--tokens N] [--needles N] [--retrievers bm25,dense,hybrid]
#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "rapid/model/encoder.hpp"
#include "rapid/model/tokenizer.hpp"
#include "rapid/retrieval/bm25.hpp"
#include "rapid/retrieval/chunker.hpp"
#include "rapid/retrieval/dense.hpp"
#include "rapid/retrieval/hybrid.hpp"

namespace {
using namespace rapid;

/// $RAPID_CACHE_DIR, else ~/.cache/rapid (the layout scripts/fetch_models.py writes).
std::filesystem::path cache_dir() {
  if (const char* env = std::getenv("RAPID_CACHE_DIR"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".cache" / "rapid";
}

struct needle_template {
  const char* fact;     // {N} = name, {X} = value
  const char* question; // paraphrase
  std::vector<const char*> values;
};

const std::vector<needle_template> templates{
    {"{N} always keeps the spare house key taped under the third {X} in the back garden.",
     "Where has {N} hidden the extra key to the home?", {"flowerpot", "stepping stone", "birdbath", "garden gnome", "terracotta planter", "brick", "watering can", "rain barrel", "bench", "lantern"}},
    {"Every winter {N} drives north to repair {X} for the small village museum.",
     "What does {N} fix for the local history collection during the cold season?", {"antique clocks", "old looms", "pipe organs", "sailing ship models", "stained-glass windows", "music boxes", "printing presses", "spinning wheels", "pocket watches", "oil lamps"}},
    {"The only food {N} would eat during the long night shifts at the observatory was {X}.",
     "What did {N} snack on while working overnight watching the stars?", {"cold dumplings", "salted pistachios", "rye crackers", "dried apricots", "pickled herring", "peanut brittle", "rice balls", "beef jerky", "sesame bars", "canned peaches"}},
    {"{N} learned to speak {X} fluently after spending three summers working on a fishing boat.",
     "Which language did {N} pick up while crewing on a trawler?", {"Icelandic", "Portuguese", "Basque", "Tagalog", "Norwegian", "Greek", "Maltese", "Estonian", "Welsh", "Breton"}},
    {"The prize that {N} won at the county fair was for growing a {X} of record weight.",
     "What vegetable or fruit earned {N} an award at the regional agricultural show?", {"pumpkin", "watermelon", "cabbage", "zucchini", "turnip", "cantaloupe", "beetroot", "squash", "radish", "eggplant"}},
    {"To calm down before an exam, {N} used to fold paper {X} until the hands stopped shaking.",
     "What origami did {N} make to soothe nerves ahead of tests?", {"cranes", "frogs", "lotus flowers", "boats", "foxes", "butterflies", "stars", "swans", "lilies", "rabbits"}},
    {"{N} sold the family bakery in {X} and used the money to buy a decommissioned lighthouse.",
     "In which town was the bread shop that {N} gave up to purchase an old coastal beacon?", {"Galway", "Bergen", "Porto", "Gdansk", "Tallinn", "Halifax", "Hobart", "Valparaiso", "Trieste", "Aberdeen"}},
    {"The password {N} uses for the office wifi is the name of a childhood dog, {X}.",
     "What network passphrase does {N} rely on at work, taken from an early pet?", {"Biscuit", "Pepper", "Waffles", "Juniper", "Rascal", "Mochi", "Tofu", "Barnaby", "Clementine", "Nugget"}},
    {"According to {N}, the best view of the eclipse was from the roof of the {X}.",
     "Where did {N} say one could watch the sun being blocked by the moon most clearly?", {"public library", "old train station", "fire house", "cathedral", "parking garage", "grain silo", "town hall", "high school gym", "hospital", "brewery"}},
    {"{N} walked {X} kilometres along the coastal path to raise money for the children's hospital.",
     "How far did {N} hike by the sea for the charity supporting sick kids?", {"eighty-two", "forty-seven", "one hundred and six", "sixty-three", "ninety-one", "thirty-eight", "seventy-five", "fifty-four", "one hundred and twenty", "twenty-nine"}},
};
const std::vector<const char*> first_names{"Marisol", "Tobias", "Ingrid", "Kwame", "Yuki", "Leopold", "Anouk", "Rafael", "Saoirse", "Dmitri"};
const std::vector<const char*> last_names{"Quintero", "Halvorsen", "Okafor", "Brennan", "Takahashi", "Lindqvist", "Moreau", "Castellano", "Petrov", "Abernathy"};

std::string fill(std::string s, const std::string& name, const std::string& value) {
  for (auto [key, v] : {std::pair<std::string, std::string>{"{N}", name}, {"{X}", value}})
    for (std::size_t at; (at = s.find(key)) != std::string::npos;) s.replace(at, key.size(), v);
  return s;
}

struct needle {
  std::string fact, question;
  std::size_t offset = 0; // in the final document
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
} // namespace

int main(int argc, char** argv) {
  CLI::App app{"needle-retrieval recall of bm25, dense and hybrid"};
  std::size_t tokens = 49152, n_needles = 100;
  std::string which = "bm25,dense,hybrid";
  bool debug = false;
  std::size_t window = 64, stride = 0;
  app.add_option("--window", window, "dense: word pieces per window (0: 254; default 64 as dense_options)");
  app.add_option("--stride", stride, "dense: pieces between windows (0: the window)");
  app.add_flag("--debug", debug, "print the top hits of the first questions");
  app.add_option("--tokens", tokens, "document length in Qwen2.5 tokens (before the needles)");
  app.add_option("--needles", n_needles, "number of needles (at most 100)")->check(CLI::Range(1, 100));
  app.add_option("--retrievers", which, "comma-separated list");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto cache = cache_dir();
    const auto tok = model::tokenizer::from_gguf((cache / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").string());
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(cache / "data" / "paul_graham_essays"))
      if (e.path().extension() == ".txt") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::string hay;
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      hay += ss.str() + "\n\n";
    }
    const auto ids = tok.encode(hay);
    if (ids.size() > tokens) hay = tok.decode(std::span<const model::token>(ids.data(), tokens));
    const std::size_t hay_tokens = std::min(ids.size(), tokens);

    // needle i: template i % 10, value i / 10, name (first i % 10, last (i / 10 + i) % 10): all names distinct
    std::vector<needle> needles(n_needles);
    std::vector<std::pair<std::size_t, std::size_t>> insert_at; // (byte position in hay, needle)
    for (std::size_t i = 0; i < n_needles; ++i) {
      const auto& t = templates[i % templates.size()];
      const std::string name = std::string(first_names[i % 10]) + " " + last_names[(i / 10 + i) % 10];
      needles[i].fact = fill(t.fact, name, t.values[i / 10 % t.values.size()]);
      needles[i].question = fill(t.question, name, "");
      // depth (k + 0.5) / n with k a permutation of i, so templates spread over the document
      const std::size_t k = (i * 37) % n_needles;
      std::size_t pos = static_cast<std::size_t>((static_cast<double>(k) + 0.5) / static_cast<double>(n_needles) * static_cast<double>(hay.size()));
      const auto end = hay.find(". ", pos); // after a sentence
      pos = end == std::string::npos ? hay.size() : end + 2;
      insert_at.push_back({pos, i});
    }
    std::sort(insert_at.begin(), insert_at.end());
    std::string doc;
    std::size_t from = 0;
    for (const auto& [pos, i] : insert_at) {
      doc.append(hay, from, pos - from);
      needles[i].offset = doc.size();
      doc += needles[i].fact + " ";
      from = pos;
    }
    doc.append(hay, from, std::string::npos);

    auto t0 = std::chrono::steady_clock::now();
    const auto chunks = retrieval::split_document(doc, tok);
    const double chunk_s = seconds_since(t0);
    std::size_t doc_tokens = 0;
    for (const auto& c : chunks) doc_tokens += c.n_tokens;
    auto chunk_of = [&](std::size_t offset) {
      std::size_t c = 0;
      while (c + 1 < chunks.size() && chunks[c + 1].offset <= offset) ++c;
      return c;
    };
    std::printf("document: %zu haystack tokens + %zu needles = %zu tokens, %zu bytes, %zu chunks (chunking %.2f s)\n\n",
                hay_tokens, n_needles, doc_tokens, doc.size(), chunks.size(), chunk_s);
    std::printf("| retriever | recall@1 | recall@5 | MRR@10 | index s | query ms |\n|---|---|---|---|---|---|\n");

    std::shared_ptr<const model::bert_encoder> enc;
    auto evaluate = [&](auto& r, const char* name) {
      auto t = std::chrono::steady_clock::now();
      r.index(chunks);
      const double index_s = seconds_since(t);
      std::size_t at1 = 0, at5 = 0;
      double mrr = 0;
      t = std::chrono::steady_clock::now();
      for (const auto& n : needles) {
        // a needle cut by a chunk boundary counts in either chunk
        const std::size_t want1 = chunk_of(n.offset), want2 = chunk_of(n.offset + n.fact.size() - 1);
        const auto hits = r.search(n.question, 10);
        if (debug && &n - needles.data() < 4) {
          std::printf("Q %s | want %zu/%zu (offset %zu, chunk %zu..%zu)\n", n.question.c_str(), want1, want2, n.offset, chunks[want1].offset, chunks[want1].offset + chunks[want1].text.size());
          for (std::size_t h = 0; h < std::min<std::size_t>(3, hits.size()); ++h) {
            const auto& c = chunks[hits[h].index].text;
            const auto at = c.find(n.question.substr(n.question.find(' ') + 1, 10));
            std::printf("   hit %zu score %.3f: %s\n", hits[h].index, static_cast<double>(hits[h].score), at == std::string::npos ? "-" : c.substr(at, 60).c_str());
          }
        }
        for (std::size_t rank = 0; rank < hits.size(); ++rank)
          if (hits[rank].index == want1 || hits[rank].index == want2) {
            at1 += rank < 1;
            at5 += rank < 5;
            mrr += 1.0 / static_cast<double>(rank + 1);
            break;
          }
      }
      const double query_ms = seconds_since(t) * 1000.0 / static_cast<double>(needles.size());
      const double n = static_cast<double>(needles.size());
      std::printf("| %s | %.3f | %.3f | %.3f | %.2f | %.2f |\n", name, static_cast<double>(at1) / n, static_cast<double>(at5) / n,
                  mrr / n, index_s, query_ms);
      std::fflush(stdout);
    };
    auto need_encoder = [&] {
      if (!enc) enc = std::make_shared<const model::bert_encoder>(model::bert_encoder::from_directory(cache / "models" / "all-minilm-l6-v2"));
      return enc;
    };
    if (which.find("bm25") != std::string::npos) {
      retrieval::bm25 r;
      evaluate(r, "bm25");
    }
    if (which.find("dense") != std::string::npos) {
      retrieval::dense r(need_encoder(), {.threshold = -1.f, .window = window, .stride = stride});
      evaluate(r, "dense");
    }
    if (which.find("hybrid") != std::string::npos) {
      retrieval::hybrid r(need_encoder(), {.dense = {.window = window, .stride = stride}});
      evaluate(r, "hybrid");
    }
    std::printf("\nexample: fact \"%s\"\n         question \"%s\"\n", needles[0].fact.c_str(), needles[0].question.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_needles: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
