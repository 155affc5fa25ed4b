// util/log.h - the run's log (spdlog) and its progress bar.
//
// One logger, "knlp", writes to stdout and, once a run directory exists, to
// <run>/log.txt. The progress bar draws on stderr only when stderr is a TTY;
// any log line clears the bar and redraws it below, so the two never mix.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <string>

namespace knlp {

// Sets up the "knlp" logger on stdout at the given level ("info", "debug", ...).
void init_logging(const std::string& level);

// Adds <path> as a second sink; every later line is also written there.
void log_to_file(const std::filesystem::path& path);

// Flushes and detaches the log file, so the next run writes its own.
void close_log_file();

// A one-line progress bar: "epoch 3/10 [####   ] 120/118 loss 0.41 acc 88.1% 9.1k img/s ETA 0:42".
class ProgressBar {
 public:
  // enabled: draw at all (callers pass false for --quiet, tests and the matrix runner).
  ProgressBar(std::string label, long total, bool enabled);
  ~ProgressBar();
  // Redraws with `done` of `total` units finished and a free-text status.
  void update(long done, const std::string& status);
  // Erases the bar, leaving the terminal line clean.
  void finish();

 private:
  std::string label_;
  long total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
};

// "1:02:03" / "4:05" for a number of seconds.
std::string format_duration(double seconds);

}  // namespace knlp
