#pragma once
// Progress reporting for long prefills and retrievals: a redrawn bar on a terminal, a plain line
// every few seconds otherwise (logs, CI), nothing with --quiet. Always on stderr.
#include <chrono>
#include <cstdio>
#include <string>

#include <sys/resource.h>
#include <unistd.h>

namespace rapid::cli {

class progress_bar {
public:
  progress_bar(std::string label, bool quiet)
      : label_(std::move(label)), quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1), start_(clock::now()) {}

  /// Reports `done` of `total` units (tokens); draws at most ~10 times a second.
  void update(std::size_t done, std::size_t total) {
    if (quiet_) return;
    const auto now = clock::now();
    const double elapsed = seconds(start_, now);
    const bool final = done >= total;
    if (!final && seconds(last_, now) < (tty_ ? 0.1 : 5.0)) return;
    last_ = now;
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
    const double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0;
    const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1;
    if (tty_) {
      constexpr int width = 30;
      const int filled = static_cast<int>(frac * width);
      std::string bar(static_cast<std::size_t>(filled), '#');
      bar.resize(width, '-');
      std::fprintf(stderr, "\r%s [%s] %zu/%zu tokens %5.1f%% %8.1f tok/s ETA %5.0fs%s", label_.c_str(), bar.c_str(), done,
                   total, 100 * frac, rate, eta, final ? "\n" : "");
    } else {
      std::fprintf(stderr, "%s: %zu/%zu tokens (%.1f%%), %.1f tok/s, ETA %.0fs\n", label_.c_str(), done, total, 100 * frac,
                   rate, eta);
    }
    std::fflush(stderr);
  }
  [[nodiscard]] double elapsed() const { return seconds(start_, clock::now()); }

private:
  using clock = std::chrono::steady_clock;
  static double seconds(clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
  std::string label_;
  bool quiet_, tty_;
  clock::time_point start_, last_{};
};

/// Peak resident set size of this process in bytes.
inline std::size_t peak_rss_bytes() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::size_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

} // namespace rapid::cli
