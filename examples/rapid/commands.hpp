#pragma once
// Each subcommand registers itself on the app with a callback that does the work.
#include <CLI/CLI.hpp>

namespace rapid::cli {
void add_inspect(CLI::App& app);
} // namespace rapid::cli
