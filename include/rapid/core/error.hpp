#pragma once
// Typed errors for everything a user can get wrong: files, options, text, context lengths.
// Library code throws these and never exits or asserts on user input.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace rapid {

/// Base of every error rapid throws. `what()` is a one-line message that names the file, the
/// key or tensor and the byte offset where they are known, and says what to do where possible.
class error : public std::runtime_error {
public:
  struct location {
    std::string file;                    // path of the offending file, if any
    std::string item;                    // metadata key, tensor name, option name...
    std::optional<std::uint64_t> offset; // byte offset inside `file`
  };

  explicit error(std::string message, location where = {})
      : std::runtime_error(compose(message, where)), message_(std::move(message)),
        where_(std::move(where)) {}

  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  [[nodiscard]] const location& where() const noexcept { return where_; }

private:
  static std::string compose(const std::string& message, const location& where) {
    std::string out = where.file;
    if (where.offset) {
      if (!out.empty()) out += ':';
      out += "offset ";
      out += std::to_string(*where.offset);
    }
    if (!where.item.empty()) {
      if (!out.empty()) out += ": ";
      out += '\'';
      out += where.item;
      out += '\'';
    }
    if (out.empty()) return message;
    out += ": ";
    out += message;
    return out;
  }
  std::string message_;
  location where_;
};

/// The operating system refused: missing file, permission, mmap failure.
class io_error : public error { using error::error; };
/// A file's bytes do not follow its format (GGUF, safetensors): truncated, out of range, inconsistent.
class format_error : public error { using error::error; };
/// Well-formed input that rapid does not support (architecture, tensor type, version).
class unsupported_error : public error { using error::error; };
/// A caller passed an invalid value (option, shape, token id, type mismatch on a metadata key).
class invalid_argument : public error { using error::error; };
/// A sequence does not fit a context or buffer (KV cache, model context length).
class capacity_error : public error { using error::error; };

} // namespace rapid
