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

// Printed by method_tokens<M> for each method type on the code before the registry (seed 42).
const std::vector<recorded> before = {
      {"lc", 0.0f, {198, 198, 504, 2988, 314, 42, 198, 198, 66, 3872, 2238, 10182, 260, 2370, 1731, 260, 5010, 807, 617, 553}},
      {"lc", 0.8f, {2, 198, 1, 520, 9531, 198, 2068, 9440, 451, 1909, 28, 1303, 506, 1771, 260, 1695, 1183, 42, 198, 198}},
      {"rag", 0.0f, {198, 198, 504, 2988, 314, 42, 428, 3872, 2238, 314, 253, 4476, 804, 288, 1464, 253, 725, 2370, 338, 314}},
      {"rag", 0.8f, {2, 198, 1, 520, 9531, 198, 788, 550, 1924, 28, 585, 346, 2316, 3012, 327, 354, 2988, 288, 260, 1962}},
      {"sd", 0.0f, {198, 198, 504, 2988, 314, 42, 198, 198, 66, 3872, 2238, 10182, 260, 2370, 1731, 260, 5010, 807, 617, 553}},
      {"sd", 0.8f, {428, 3872, 2238, 10182, 359, 253, 970, 282, 14304, 3534, 281, 3500, 338, 1072, 441, 3230, 618, 253, 1678, 3500}},
      {"rapid", 0.0f, {198, 198, 504, 2988, 314, 42, 198, 198, 66, 3872, 2238, 10182, 260, 2370, 1731, 260, 5010, 807, 617, 553}},
      {"rapid", 0.8f, {533, 550, 1924, 28, 732, 1072, 428, 3872, 2238, 6185, 288, 260, 1867, 20430, 347, 9329, 411, 260, 2177, 282}},
      {"rapid-exact", 0.0f, {198, 198, 504, 2988, 314, 42, 198, 198, 66, 3872, 2238, 10182, 260, 2370, 1731, 260, 5010, 807, 617, 553}},
      {"rapid-exact", 0.8f, {428, 3872, 2238, 1534, 27269, 429, 338, 8149, 30, 378, 2988, 314, 338, 428, 3872, 2238, 1072, 441, 6185, 30}},
      {"magicdec", 0.0f, {198, 198, 504, 2988, 314, 42, 198, 198, 66, 3872, 2238, 10182, 260, 2370, 1731, 260, 5010, 807, 617, 553}},
      {"magicdec", 0.8f, {2, 198, 1, 520, 9531, 198, 1653, 260, 6048, 37920, 28, 428, 3872, 2238, 10182, 582, 282, 260, 20146, 429}},
      {"naive-sd", 0.0f, {198, 198, 504, 2988, 314, 42, 198, 198, 66, 3872, 2238, 10182, 260, 2370, 1731, 260, 5010, 807, 617, 553}},
      {"naive-sd", 0.8f, {2, 198, 1, 520, 9531, 198, 2068, 1464, 354, 428, 4442, 327, 253, 1345, 29, 6693, 6230, 28, 346, 856}},
      {"lookup", 0.0f, {198, 198, 504, 2988, 314, 42, 198, 198, 66, 3872, 2238, 10182, 260, 2370, 1731, 260, 5010, 807, 617, 553}},
      {"lookup", 0.8f, {2, 198, 1, 520, 9531, 198, 4239, 506, 2373, 1187, 260, 428, 3872, 2238, 13155, 284, 260, 2798, 10995, 30}},
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
