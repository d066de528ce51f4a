// The `rapid` command: one subcommand per job. Errors become one line on stderr and exit status 1.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "retrieve_command.hpp"
#include "rapid/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"rapid: long-context inference with retrieval-augmented speculative decoding"};
  app.require_subcommand(1);
  rapid::cli::add_inspect(app);
  rapid::cli::add_generate(app);
  rapid::cli::add_perplexity(app);
  rapid::cli::add_tokenize(app);
  rapid::cli::add_detokenize(app);
  rapid::cli::add_retrieve(app);
  rapid::cli::add_run(app);
  rapid::cli::add_compare(app);
  rapid::cli::add_demo(app);
  rapid::cli::add_eval(app);
  rapid::cli::add_report(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Bad usage is one actionable line, like every other error.
    std::fprintf(stderr, "rapid: error: %s (see rapid --help)\n", e.what());
    return 1;
  } catch (const rapid::error& e) {
    std::fprintf(stderr, "rapid: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rapid: unexpected error: %s\n", e.what());
    return 2;
  }
  return 0;
}
