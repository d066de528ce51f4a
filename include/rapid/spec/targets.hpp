#pragma once
// Target policies: the from-scratch transformer, tagged with the prompt it reads. The long-context
// target sees the whole document (LC); rag_target sees the retrieved chunks (the RAG baseline).
#include "rapid/model/transformer.hpp"
#include "rapid/spec/concepts.hpp"

namespace rapid::spec {

template <context_kind Context>
class transformer_target : public model::transformer {
public:
  static constexpr context_kind context = Context;
  using model::transformer::transformer;
};

using long_context_target = transformer_target<context_kind::full>;
using rag_target = transformer_target<context_kind::retrieved>;

static_assert(target_policy<long_context_target>);
static_assert(target_policy<rag_target>);

} // namespace rapid::spec
