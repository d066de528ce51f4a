#pragma once
// Which logit rows a forward pass computes. The output head is the largest matrix of a small
// model (Qwen2.5-0.5B: 136M of its 494M parameters), so a prefill that needs only the next
// token's row skips it for the others.
namespace rapid::model {

enum class logits_for { all_rows, last_row };

} // namespace rapid::model
