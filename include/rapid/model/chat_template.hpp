#pragma once
// ChatML conversations, rendered the way Qwen2.5 and SmolLM2 expect, and a check that a GGUF's own
// `tokenizer.chat_template` (Jinja) is ChatML so that the rendering matches it.
//
//   <|im_start|>system\n{system}<|im_end|>\n          (the template's default system prompt is
//   <|im_start|>user\n{content}<|im_end|>\n            added when the first message is not a
//   <|im_start|>assistant\n{content}<|im_end|>\n       system message, as both templates do)
//   <|im_start|>assistant\n                            (the generation prompt, when asked for)
//
// rapid does not run Jinja: it recognises ChatML templates and renders them natively. Tool calls
// are not supported; roles other than system, user and assistant are refused.
#include <algorithm>
#include <span>
#include <string>
#include <string_view>

#include "rapid/core/error.hpp"

namespace rapid::model {

struct chat_message {
  std::string role;     // "system", "user" or "assistant"
  std::string content;
};

enum class chat_template_kind {
  missing,      // the model has no template: plain ChatML without a default system prompt
  chatml,       // a ChatML template (Qwen2.5, SmolLM2, ...)
  unsupported,  // some other format; chat formatting is refused
};

struct chat_template_info {
  chat_template_kind kind = chat_template_kind::missing;
  std::string default_system;  // system prompt the template adds when the conversation has none
};

namespace detail {

/// The template as code with the formatting stripped: escaped "\n" and real newlines, spaces and
/// tabs removed, double quotes as single quotes, `x.role`/`x.content` as `x['role']`/`x['content']`.
inline std::string normalise_template(std::string_view t) {
  std::string out;
  out.reserve(t.size());
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '\\' && i + 1 < t.size() && t[i + 1] == 'n') { ++i; continue; }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    out += c == '"' ? '\'' : c;
  }
  auto replace_all = [&](std::string_view from, std::string_view to) {
    for (std::size_t at = out.find(from); at != std::string::npos; at = out.find(from, at + to.size()))
      out.replace(at, from.size(), to);
  };
  replace_all("message.role", "message['role']");
  replace_all("message.content", "message['content']");
  return out;
}

/// Undoes the Jinja string escapes that occur in prompt text (\n, \t, \', \", \\).
inline std::string unescape_jinja(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char e = s[++i];
      out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
    } else {
      out += s[i];
    }
  }
  return out;
}

} // namespace detail

/// Classifies a Jinja chat template and extracts its default system prompt.
[[nodiscard]] inline chat_template_info inspect_chat_template(std::string_view jinja) {
  chat_template_info info;
  if (jinja.empty()) return info;
  const std::string code = detail::normalise_template(jinja);
  const bool turn = code.find("'<|im_start|>'+message['role']+''+message['content']+'<|im_end|>") != std::string::npos;
  const bool prompt = code.find("<|im_start|>assistant") != std::string::npos;
  info.kind = turn && prompt ? chat_template_kind::chatml : chat_template_kind::unsupported;
  if (info.kind != chat_template_kind::chatml) return info;
  // A literal "<|im_start|>system\n...<|im_end|>" with plain text inside is the default prompt.
  constexpr std::string_view open = "<|im_start|>system";
  constexpr std::string_view close = "<|im_end|>";
  for (std::size_t at = jinja.find(open); at != std::string_view::npos; at = jinja.find(open, at + 1)) {
    std::size_t begin = at + open.size();
    if (jinja.substr(begin, 2) == "\\n") begin += 2;
    else if (jinja.substr(begin, 1) == "\n") begin += 1;
    else continue;
    const auto end = jinja.find(close, begin);
    if (end == std::string_view::npos) break;
    const auto text = jinja.substr(begin, end - begin);
    if (text.find_first_of("'\"{}+") != std::string_view::npos) continue;
    info.default_system = detail::unescape_jinja(text);
    break;
  }
  return info;
}

/// Renders a conversation in ChatML. `default_system` is added first when the conversation does
/// not start with a system message (pass the template's, or empty for none).
[[nodiscard]] inline std::string render_chatml(std::span<const chat_message> messages, bool add_generation_prompt,
                                               std::string_view default_system = {}) {
  std::string out;
  auto turn = [&](std::string_view role, std::string_view content) {
    out += "<|im_start|>";
    out += role;
    out += '\n';
    out += content;
    out += "<|im_end|>\n";
  };
  if (!default_system.empty() && (messages.empty() || messages.front().role != "system"))
    turn("system", default_system);
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      throw invalid_argument("chat message " + std::to_string(i) + " has role '" + m.role +
                             "'; rapid's ChatML formatting takes system, user and assistant");
    turn(m.role, m.content);
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

} // namespace rapid::model
