// The method registry: every line describes its decoder type truthfully, unknown names are
// refused with the choices, and every registered method decodes exactly as it did before the
// registry and the policy-seam refactor (tokens recorded from that code, same seeds, SmolLM2).
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>

#include "rapid/model/tokenizer.hpp"
#include "rapid/spec/registry.hpp"
#include "spec/method_tokens.hpp"
#include "test_support.hpp"

using namespace rapid;
using spec::token;

namespace {

struct recorded {
  std::string_view method;
  float temperature;
  std::vector<token> tokens;
};

// Printed by method_tokens<M> for each method type (seed 42) on the code before the registry,
// recorded again when attention's softmax took its own exp (session 21, under 1 ulp where
// xsimd's is 1.5): SmolLM2's 8-bit activations carry the last-bit change to its logits (+0.14 on
// one of the two leading tokens at step 5, 0.10 apart before), and greedy decoding takes the
// other one. Every greedy method still gives lc's tokens.
const std::vector<recorded> before = {
      {"lc", 0.0f, {198, 198, 504, 2988, 42, 378, 428, 3872, 2238, 6185, 314, 253, 980, 338, 2518, 253, 5010, 807, 288, 1485}},
      {"lc", 0.8f, {2, 198, 1, 520, 9531, 198, 2068, 9440, 428, 3872, 2238, 28, 1303, 506, 1771, 354, 1183, 837, 330, 553}},
      {"rag", 0.0f, {198, 198, 504, 2988, 314, 42, 428, 3872, 2238, 314, 253, 3133, 282, 4799, 284, 8449, 1621, 30, 657, 506}},
      {"rag", 0.8f, {2, 198, 1, 520, 9531, 198, 788, 476, 504, 4206, 282, 2553, 593, 42, 378, 25500, 284, 13703, 282, 354}},
      {"sd", 0.0f, {198, 198, 504, 2988, 42, 378, 428, 3872, 2238, 6185, 314, 253, 980, 338, 2518, 253, 5010, 807, 288, 1485}},
      {"sd", 0.8f, {428, 3872, 2238, 10182, 359, 6739, 6090, 418, 260, 3616, 282, 260, 4218, 28, 564, 2268, 260, 4218, 314, 4935}},
      {"rapid", 0.0f, {198, 198, 504, 2988, 42, 378, 428, 3872, 2238, 6185, 314, 253, 980, 338, 2518, 253, 5010, 807, 288, 1485}},
      {"rapid", 0.8f, {533, 550, 1924, 28, 732, 1072, 428, 3872, 2238, 6185, 288, 253, 896, 2370, 281, 915, 827, 4261, 365, 6441}},
      {"rapid-exact", 0.0f, {198, 198, 504, 2988, 42, 378, 428, 3872, 2238, 6185, 314, 253, 980, 338, 2518, 253, 5010, 807, 288, 1485}},
      {"rapid-exact", 0.8f, {428, 3872, 2238, 4364, 1062, 253, 1646, 1916, 281, 260, 12394, 9147, 28, 564, 2268, 346, 699, 260, 2370, 346}},
      {"magicdec", 0.0f, {198, 198, 504, 2988, 42, 378, 428, 3872, 2238, 6185, 314, 253, 980, 338, 2518, 253, 5010, 807, 288, 1485}},
      {"magicdec", 0.8f, {2, 198, 1, 520, 9531, 198, 1882, 3060, 4549, 738, 260, 428, 3872, 2238, 18843, 1833, 411, 1833, 30, 1626}},
      {"naive-sd", 0.0f, {198, 198, 504, 2988, 42, 378, 428, 3872, 2238, 6185, 314, 253, 980, 338, 2518, 253, 5010, 807, 288, 1485}},
      {"naive-sd", 0.8f, {2, 198, 1, 520, 9531, 198, 2068, 1464, 354, 428, 4442, 351, 253, 1055, 28, 357, 1530, 288, 1464, 253}},
      {"lookup", 0.0f, {198, 198, 504, 2988, 42, 378, 428, 3872, 2238, 6185, 314, 253, 980, 338, 2518, 253, 5010, 807, 288, 1485}},
      {"lookup", 0.8f, {2, 198, 1, 520, 9531, 198, 4239, 506, 2373, 1187, 260, 428, 3872, 2238, 12982, 980, 284, 260, 428, 3872}},
};

} // namespace

TEST_CASE("the registry describes each decoder type and refuses unknown names") {
  CHECK(spec::method_infos.size() == std::tuple_size_v<std::remove_const_t<decltype(spec::registered_methods)>>);
  std::apply(
      [](const auto&... entry) {
        auto check = [](const auto& e) {
          using method = typename std::decay_t<decltype(e)>::decoder;
          CAPTURE(e.info.name);
          CHECK(&spec::find_method(e.info.name) != nullptr);
          if (e.info.drafts) CHECK(e.info.rule == std::string_view(method::rule_type::name));
          else CHECK(e.info.rule == "none");
          CHECK(e.info.drafts == !std::is_same_v<typename method::drafter_type, spec::no_drafter>);
        };
        (check(entry), ...);
      },
      spec::registered_methods);
  CHECK(spec::find_method("rapid").reads_eta);
  CHECK_FALSE(spec::find_method("sd").reads_eta);
  CHECK(spec::find_method("rag").has_retrieval_budget);
  CHECK_FALSE(spec::find_method("magicdec").needs_drafter_model);
  CHECK(spec::method_names(", ", " or ").find("naive-sd or lookup") != std::string::npos);
  CHECK_THROWS_WITH_AS((void)spec::find_method("rapdi"), doctest::Contains("choose from lc, rag"), invalid_argument);
  CHECK(spec::visit_method("rapid-exact", [](const auto& e) { return std::string(e.info.rule); }) == "retrieval_augmented_exact");
}

TEST_CASE("every registered method gives the same tokens as before the refactor (SmolLM2, same seeds)") {
  const auto path = test::cached("models/smollm2-135m-instruct-q4_1.gguf");
  if (!path) return;
  // The tokens were recorded with the AVX-512 VNNI kernels; another build rounds its 8-bit
  // activations differently and samples other (equally valid) tokens.
  if (std::string_view(ops::int8_kernel_arch) != "avx512vnni") {
    MESSAGE("skipped: recorded with the avx512vnni kernels, this build has " << std::string(ops::int8_kernel_arch));
    return;
  }
  auto m = std::make_shared<const model::model>(path->string());
  const auto tok = model::tokenizer::from_gguf(m->file());
  const auto full = tok.encode("Speculative decoding drafts a few tokens with a small model and verifies them with a large one in a "
                               "single forward pass. RAPID drafts from the retrieved chunks and shifts the target toward the "
                               "drafter where the drafter is confident. The question: what does RAPID shift?");
  std::size_t checked = 0;
  std::apply(
      [&](const auto&... entry) {
        auto check = [&](const auto& e) {
          using method = typename std::decay_t<decltype(e)>::decoder;
          for (const auto& r : before) {
            if (r.method != e.info.name) continue;
            CAPTURE(r.method);
            CAPTURE(r.temperature);
            CHECK(test::method_tokens<method>(m, full, r.temperature, 42) == r.tokens);
            ++checked;
          }
        };
        (check(entry), ...);
      },
      spec::registered_methods);
  CHECK(checked == 2 * spec::method_infos.size());  // greedy and sampled, every method
}
