// `rapid tokenize --model FILE [--special] [--pieces] < text` prints the token ids of stdin;
// `rapid detokenize --model FILE [--skip-special] < ids` writes the text of the ids on stdin.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "rapid/core/error.hpp"
#include "rapid/model/tokenizer.hpp"

namespace rapid::cli {
namespace {

std::string read_stdin() {
  std::string data;
  char buf[1 << 16];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;) data.append(buf, n);
  if (std::ferror(stdin)) throw io_error("cannot read standard input");
  return data;
}

/// A token's bytes as a C-style quoted string: printable ASCII as is, \n \t \r \\ \", other bytes
/// of valid UTF-8 as is, everything else as \xNN.
std::string quoted_bytes(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const auto u = unicode::decode_utf8(s.data() + i, s.data() + s.size());
      if (u.valid) {
        out.append(s.substr(i, u.length));
        i += u.length;
        continue;
      }
    }
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c < 0x20 || c >= 0x7F) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  return out + "\"";
}

struct tokenize_options {
  std::string model;
  bool special = false, pieces = false, add_special = false, strict = false;
};

void tokenize(const tokenize_options& o) {
  const auto t = model::tokenizer::from_gguf(o.model);
  const auto text = read_stdin();
  const auto ids = t.encode(text, {.parse_special = o.special, .add_special = o.add_special, .strict_utf8 = o.strict});
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (o.pieces) {
      out += std::to_string(ids[i]) + "\t" + quoted_bytes(t.token_bytes(ids[i])) + "\n";
    } else {
      if (i) out += ' ';
      out += std::to_string(ids[i]);
    }
  }
  if (!o.pieces) out += '\n';
  std::fwrite(out.data(), 1, out.size(), stdout);
}

/// Integers separated by whitespace, commas or brackets (so `[1, 2, 3]` works too).
std::vector<model::token> parse_ids(const std::string& s) {
  std::vector<model::token> ids;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == ',' || c == '[' || c == ']') { ++i; continue; }
    std::size_t j = i;
    if (s[j] == '-') ++j;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j == i || (j == i + 1 && s[i] == '-') || j - i > 11)
      throw invalid_argument("expected a token id", {"<stdin>", "ids", static_cast<std::uint64_t>(i)});
    const long long v = std::stoll(s.substr(i, j - i));
    if (v < 0 || v > 0x7FFFFFFF)
      throw invalid_argument("token id " + s.substr(i, j - i) + " is out of range", {"<stdin>", "ids", static_cast<std::uint64_t>(i)});
    ids.push_back(static_cast<model::token>(v));
    i = j;
  }
  return ids;
}

void detokenize(const std::string& model_path, bool skip_special) {
  const auto t = model::tokenizer::from_gguf(model_path);
  const auto text = t.decode(parse_ids(read_stdin()), {.skip_special = skip_special});
  std::fwrite(text.data(), 1, text.size(), stdout);
}

} // namespace

void add_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of standard input (a model's GGUF tokenizer)");
  auto o = std::make_shared<tokenize_options>();
  cmd->add_option("--model,-m", o->model, "GGUF model file")->required();
  cmd->add_flag("--special", o->special, "recognise control tokens such as <|im_start|> written in the text");
  cmd->add_flag("--pieces", o->pieces, "print one token per line: id, tab, its bytes quoted");
  cmd->add_flag("--add-special", o->add_special, "add BOS/EOS where the model asks for them");
  cmd->add_flag("--strict-utf8", o->strict, "refuse input that is not valid UTF-8 (default: encode its bytes)");
  cmd->callback([o] { tokenize(*o); });
}

void add_detokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("detokenize", "Write the text of the token ids on standard input");
  auto model_path = std::make_shared<std::string>();
  auto skip = std::make_shared<bool>(false);
  cmd->add_option("--model,-m", *model_path, "GGUF model file")->required();
  cmd->add_flag("--skip-special", *skip, "leave control tokens out");
  cmd->callback([=] { detokenize(*model_path, *skip); });
}

} // namespace rapid::cli
