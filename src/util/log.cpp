#include "util/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

namespace knlp {

namespace {

// The bar currently on screen (empty when none); guarded by bar_mutex.
std::mutex bar_mutex;
std::string bar_line;

void erase_bar_locked() {
  if (!bar_line.empty()) std::fputs("\r\033[2K", stderr);
}

void draw_bar_locked() {
  if (!bar_line.empty()) {
    std::fputs(bar_line.c_str(), stderr);
    std::fflush(stderr);
  }
}

// stdout sink that takes the progress bar down before a line and puts it back after.
class BarAwareStdoutSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t out;
    formatter_->format(msg, out);
    std::lock_guard<std::mutex> lock(bar_mutex);
    erase_bar_locked();
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    draw_bar_locked();
  }
  void flush_() override { std::fflush(stdout); }
};

std::shared_ptr<spdlog::sinks::dist_sink_mt> sinks;
std::shared_ptr<spdlog::sinks::sink> file_sink;

}  // namespace

void init_logging(const std::string& level) {
  if (!sinks) {
    sinks = std::make_shared<spdlog::sinks::dist_sink_mt>();
    sinks->add_sink(std::make_shared<BarAwareStdoutSink>());
    auto logger = std::make_shared<spdlog::logger>("knlp", sinks);
    logger->set_pattern("[%H:%M:%S] %v");
    spdlog::set_default_logger(logger);
  }
  spdlog::set_level(spdlog::level::from_str(level));
}

void log_to_file(const std::filesystem::path& path) {
  close_log_file();
  file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path.string(), false);
  file_sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e] %l: %v");
  sinks->add_sink(file_sink);
}

void close_log_file() {
  if (!file_sink) return;
  file_sink->flush();
  sinks->remove_sink(file_sink);
  file_sink.reset();
}

std::string format_duration(double seconds) {
  long s = seconds < 0 ? 0 : static_cast<long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

ProgressBar::ProgressBar(std::string label, long total, bool enabled)
    : label_(std::move(label)),
      total_(total > 0 ? total : 1),
      enabled_(enabled && ::isatty(STDERR_FILENO) &&
               spdlog::get_level() <= spdlog::level::info),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(long done, const std::string& status) {
  if (!enabled_) return;
  constexpr int kWidth = 24;
  double frac = static_cast<double>(done) / static_cast<double>(total_);
  int filled = static_cast<int>(frac * kWidth);
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double eta = done > 0 ? elapsed * (static_cast<double>(total_ - done) / done) : 0.0;
  std::string bar = "\r" + label_ + " [" + std::string(filled, '#') +
                    std::string(kWidth - filled, ' ') +
                    fmt::format("] {}/{} {} ETA {}", done, total_, status, format_duration(eta));
  std::lock_guard<std::mutex> lock(bar_mutex);
  erase_bar_locked();
  bar_line = bar;
  draw_bar_locked();
}

void ProgressBar::finish() {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(bar_mutex);
  erase_bar_locked();
  bar_line.clear();
  std::fflush(stderr);
}

}  // namespace knlp
