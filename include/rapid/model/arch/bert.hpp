#pragma once
// BERT encoder configuration (HF config.json of a BertModel, e.g. all-MiniLM-L6-v2): post-LayerNorm
// blocks, learned absolute positions, exact-erf GELU, biases everywhere.
#include <cstddef>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "rapid/core/error.hpp"

namespace rapid::model::arch {

struct bert_config {
  std::size_t vocab_size = 30522;
  std::size_t hidden = 384;         // d_model
  std::size_t layers = 6;
  std::size_t heads = 12;
  std::size_t intermediate = 1536;  // feed-forward width
  std::size_t max_positions = 512;  // learned position embeddings
  std::size_t type_vocab = 2;
  float layer_norm_eps = 1e-12f;

  [[nodiscard]] std::size_t head_dim() const noexcept { return hidden / heads; }

  /// Reads and checks config.json. Throws io_error, format_error or unsupported_error.
  [[nodiscard]] static bert_config from_json_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw io_error("cannot open the model configuration (config.json)", {path, {}, {}});
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw format_error(std::string("config is not valid JSON: ") + e.what(), {path, {}, {}});
    }
    bert_config c;
    auto size = [&](const char* key, std::size_t& out) {
      if (!j.contains(key)) return;
      if (!j[key].is_number_unsigned() || j[key].get<std::size_t>() == 0)
        throw format_error("must be a positive integer", {path, key, {}});
      out = j[key].get<std::size_t>();
    };
    if (const auto type = j.value("model_type", std::string("bert")); type != "bert")
      throw unsupported_error("model_type '" + type + "' is not a BERT encoder (rapid's encoder runs BertModel)", {path, "model_type", {}});
    if (const auto act = j.value("hidden_act", std::string("gelu")); act != "gelu")
      throw unsupported_error("hidden_act '" + act + "' is not supported (only the exact-erf 'gelu')", {path, "hidden_act", {}});
    if (const auto pos = j.value("position_embedding_type", std::string("absolute")); pos != "absolute")
      throw unsupported_error("position_embedding_type '" + pos + "' is not supported (only 'absolute')", {path, "position_embedding_type", {}});
    size("vocab_size", c.vocab_size);
    size("hidden_size", c.hidden);
    size("num_hidden_layers", c.layers);
    size("num_attention_heads", c.heads);
    size("intermediate_size", c.intermediate);
    size("max_position_embeddings", c.max_positions);
    size("type_vocab_size", c.type_vocab);
    if (j.contains("layer_norm_eps")) {
      if (!j["layer_norm_eps"].is_number() || !(j["layer_norm_eps"].get<double>() > 0))
        throw format_error("must be a positive number", {path, "layer_norm_eps", {}});
      c.layer_norm_eps = j["layer_norm_eps"].get<float>();
    }
    if (c.hidden % c.heads != 0)
      throw format_error("hidden_size " + std::to_string(c.hidden) + " is not a multiple of num_attention_heads " +
                         std::to_string(c.heads), {path, "num_attention_heads", {}});
    return c;
  }
};

} // namespace rapid::model::arch
