#pragma once
// Every method the library ships, one line each: its command-line name, its decoder type (the
// policies, spec/methods.hpp) and what a front end needs to run and sweep it. The `rapid` program
// and examples/ablation.cpp take their methods from here; the rule's name comes from Rule::name.
// A new method is one line below (plus its policy's own header).
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "rapid/core/error.hpp"
#include "rapid/spec/methods.hpp"

namespace rapid::spec {

/// What a front end knows about a method besides its decoder type.
struct method_info {
  std::string_view name;              // command-line name
  std::string_view rule;              // Rule::name; "none" when nothing is drafted
  bool drafts = false;                // it has a drafter, so gamma matters
  bool reads_eta = false;             // RAPID's eta changes it
  bool needs_drafter_model = false;   // its drafter runs a separate model (--drafter)
  bool has_retrieval_budget = false;  // a policy reads the retrieved context (--rag-budget)
};

/// A registry line: the decoder type and its description.
template <class Decoder>
struct registered_method {
  using decoder = Decoder;
  method_info info;
};

/// The description of Decoder under `name`; drafts, rule and retrieval budget follow from its types.
template <class Decoder>
constexpr registered_method<Decoder> describe(std::string_view name, bool reads_eta, bool needs_drafter_model) {
  using D = typename Decoder::drafter_type;
  constexpr bool drafts = !std::is_same_v<D, no_drafter>;
  constexpr bool retrieved = Decoder::target_type::context == context_kind::retrieved ||
                             (drafts && D::context == context_kind::retrieved);
  return {{name, drafts ? std::string_view(Decoder::rule_type::name) : std::string_view("none"), drafts, reads_eta,
           needs_drafter_model, retrieved}};
}

//                                                       name          reads eta  drafter model
inline constexpr auto registered_methods = std::make_tuple(describe<methods::lc>("lc", false, false),
                                                           describe<methods::rag>("rag", false, false),
                                                           describe<methods::sd>("sd", false, true),
                                                           describe<methods::rapid>("rapid", true, true),
                                                           describe<methods::rapid_exact>("rapid-exact", true, true),
                                                           describe<methods::magicdec>("magicdec", false, false),
                                                           describe<methods::naive_sd>("naive-sd", false, true),
                                                           describe<methods::lookup>("lookup", false, false));

/// The descriptions in registry order.
inline constexpr auto method_infos =
    std::apply([](const auto&... m) { return std::array<method_info, sizeof...(m)>{m.info...}; }, registered_methods);

/// "lc, rag, ...": the registered names for help texts and error messages (`last` before the
/// final one, e.g. " or ").
[[nodiscard]] inline std::string method_names(std::string_view separator = ", ", std::string_view last = ", ") {
  std::string out;
  for (std::size_t i = 0; i < method_infos.size(); ++i) {
    if (i > 0) out += i + 1 == method_infos.size() ? last : separator;
    out += method_infos[i].name;
  }
  return out;
}

/// The description of `name`, or null when no method has that name.
[[nodiscard]] inline const method_info* method_named(std::string_view name) noexcept {
  for (const auto& m : method_infos)
    if (m.name == name) return &m;
  return nullptr;
}

/// The description of `name`; throws invalid_argument naming the choices when there is none.
[[nodiscard]] inline const method_info& find_method(std::string_view name) {
  if (const method_info* m = method_named(name)) return *m;
  throw invalid_argument("unknown method '" + std::string(name) + "' (choose from " + method_names() + ")");
}

/// f(entry) for the registry line named `name`, where decltype(entry)::decoder is its decoder
/// type; f returns one (non-void) type for every line. Throws like find_method.
template <class F>
auto visit_method(std::string_view name, F&& f) {
  (void)find_method(name);
  using result = decltype(f(std::get<0>(registered_methods)));
  std::optional<result> out;
  std::apply([&](const auto&... m) { ((!out && m.info.name == name ? (void)out.emplace(f(m)) : void()), ...); },
             registered_methods);
  return std::move(*out);
}

} // namespace rapid::spec
