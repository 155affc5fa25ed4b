// train/run.cpp - set up a run directory, pick the trainer, record the outcome.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <csignal>
#include <ctime>

#include "train/context.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/scripts.h"

namespace knlp {

std::atomic<bool> stop_requested{false};

namespace {

void on_signal(int) { stop_requested = true; }

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  return fmt::format("{:%Y%m%d-%H%M%S}", fmt::localtime(t));
}

// The startup table of resolved settings, one aligned row each.
void log_settings(const RunContext& ctx) {
  const auto& s = ctx.settings;
  const std::pair<const char*, std::string> rows[] = {
      {"run", ctx.dir.string()},
      {"model", s.model.name},
      {"dataset", s.data.dataset},
      {"optimizer", fmt::format("{} lr {} wd {}", s.optim.name, s.optim.lr, s.optim.weight_decay)},
      {"pruning", s.prune.method == "none" ? "none"
                                           : fmt::format("{} to {:.0f}%", s.prune.method,
                                                         100 * s.prune.target_sparsity)},
      {"seed", std::to_string(s.train.seed)},
      {"device", fmt::format("{} ({} threads)", ctx.device.str(), torch::get_num_threads())},
      {"config hash", ctx.config.hash()},
  };
  spdlog::info("+----------------+---------------------------------------------");
  for (const auto& [k, v] : rows) spdlog::info("| {:<14} | {}", k, v);
  spdlog::info("+----------------+---------------------------------------------");
}

void plot_curves(const std::filesystem::path& dir) {
  const auto cmd = script_command("plot_curves.py", {dir.string()}) + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    spdlog::warn("could not draw {}/curves.png (is matplotlib in the knlp venv?)", dir.string());
}

}  // namespace

double peak_rss_mib() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
}

torch::Device pick_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  torch::Device d(name);
  KNLP_CHECK_INPUT(!d.is_cuda() || torch::cuda::is_available(), "CONFIG_DEVICE",
                   "'{}' asked for, but LibTorch sees no CUDA GPU; accepted here: cpu, auto",
                   name);
  return d;
}

std::string run_name(const RunSettings& s) {
  std::string name = s.model.name + "_" + s.optim.name;
  // A GPT-2 with another attention or MLP says so, as the reference's gpt2_adamwspam_mla does.
  for (const auto& [variant, standard] : {std::pair{s.model.gpt2.attention, "mha"},
                                          std::pair{s.model.gpt2.mlp, "mlp"}})
    if (variant != standard) name += "_" + variant;
  if (s.prune.method == "state") name += "_" + s.prune.variant;  // as the Python knlp names it
  name += "_" + s.prune.method;
  if (s.prune.method != "none")
    name += fmt::format("_{}", static_cast<int>(s.prune.target_sparsity * 100 + 0.5));
  if (s.train.seed_in_name) name += fmt::format("_seed{}", s.train.seed);
  return name;
}

RunStatus RunStatus::failed(std::string_view why) {
  return {State::kFailed, std::string(why.substr(0, why.find('\n')))};
}

RunStatus RunStatus::interrupted(int64_t step) {
  return {State::kInterrupted, fmt::format("at step {}", step)};
}

// The strings on disk are those of every knlp so far, so old run folders still read.
RunStatus RunStatus::parse(std::string_view text, const std::string& where) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  const auto after = [&](std::string_view prefix) {
    auto rest = text.substr(prefix.size());
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    return std::string(rest);
  };
  constexpr std::string_view kFailed = "failed:", kInterrupted = "failed: interrupted";
  if (text.empty()) return {};
  if (text == "running") return {State::kRunning, ""};
  if (text == "done") return {State::kDone, ""};
  if (text.substr(0, kInterrupted.size()) == kInterrupted &&
      (text.size() == kInterrupted.size() || text[kInterrupted.size()] == ' '))
    return {State::kInterrupted, after(kInterrupted)};
  if (text.substr(0, kFailed.size()) == kFailed) return {State::kFailed, after(kFailed)};
  raise_at(where, "status",
           fmt::format("'{}' is not a run status; expected running, done, failed: <reason> or "
                       "failed: interrupted at step N",
                       text.substr(0, text.find('\n'))));
}

std::string RunStatus::format() const {
  const std::string line = reason.substr(0, reason.find('\n'));
  switch (state) {
    case State::kNone:
      return "";
    case State::kRunning:
      return "running";
    case State::kDone:
      return "done";
    case State::kFailed:
      return line.empty() ? "failed:" : "failed: " + line;
    case State::kInterrupted:
      return line.empty() ? "failed: interrupted" : "failed: interrupted " + line;
  }
  return "";
}

std::string RunStatus::describe() const {
  switch (state) {
    case State::kNone:
      return "not started";
    case State::kFailed:
      return reason;
    case State::kInterrupted:
      return reason.empty() ? "interrupted" : "interrupted " + reason;
    default:
      return format();
  }
}

bool operator==(const RunStatus& status, std::string_view text) {
  return status == RunStatus::parse(text);
}

bool operator!=(const RunStatus& status, std::string_view text) { return !(status == text); }

std::ostream& operator<<(std::ostream& os, const RunStatus& status) {
  return os << (status.state == RunStatus::State::kNone ? "(no status)" : status.format());
}

RunStatus read_status(const std::filesystem::path& run_dir) {
  const auto path = run_dir / "status";
  if (!std::filesystem::exists(path)) return {};
  return RunStatus::parse(read_file(path), path.string());
}

void write_status(const std::filesystem::path& run_dir, const RunStatus& status) {
  write_file_atomic(run_dir / "status", status.format() + "\n");
}

void RunContext::start_metrics(int64_t num_params, const std::string& metric,
                               bool higher_is_better) {
  const auto& s = settings;
  metrics = {{"schema_version", 1},
             {"run", dir.filename().string()},
             {"name", run_name(s)},
             {"model", s.model.name},
             {"dataset", s.data.dataset},
             {"optimizer", s.optim.name},
             {"pruning", s.prune.method},
             {"target_sparsity", s.prune.target_sparsity},
             {"config_hash", config.hash()},
             {"seed", s.train.seed},
             {"device", device.str()},
             {"threads", torch::get_num_threads()},
             {"num_params", num_params},
             {"metric", metric},
             {"higher_is_better", higher_is_better},
             {"train", json::array()},
             {"eval", json::array()}};
}

void RunContext::write_metrics() const { write_file_atomic(dir / "metrics.json", metrics.dump(1)); }

std::filesystem::path new_run_dir(const std::filesystem::path& parent, const std::string& name,
                                  const std::string& stamp) {
  std::filesystem::create_directories(parent);
  const std::string base = fmt::format("{}-{}", name, stamp);
  for (int i = 1;; i++) {
    auto dir = parent / (i == 1 ? base : fmt::format("{}-{}", base, i));
    if (std::filesystem::create_directory(dir)) return dir;
  }
}

RunResult run_training(const Config& cfg_in, const RunOptions& options) {
  RunContext ctx;
  ctx.config = options.resume ? Config::load(options.run_dir / "config") : cfg_in;
  ctx.settings = resolve(ctx.config);
  ctx.progress = options.progress;
  ctx.stop_after_steps = options.stop_after_steps;
  const auto& t = ctx.settings.train;
  init_logging(t.log_level);
  if (t.threads > 0) torch::set_num_threads(static_cast<int>(t.threads));
  ctx.device = pick_device(t.device);

  ctx.dir = options.run_dir.empty() ? new_run_dir(t.output_dir, run_name(ctx.settings), timestamp())
                                    : options.run_dir;
  if (options.resume) {
    KNLP_CHECK_INPUT(read_status(ctx.dir).state != RunStatus::State::kDone, ctx.dir.string(),
                     "this run is done; nothing to resume");
  } else {
    KNLP_CHECK_INPUT(!std::filesystem::exists(ctx.dir / "status"), ctx.dir.string(),
                     "already holds a run; resume it with --resume or choose another folder");
  }
  std::filesystem::create_directories(ctx.dir);
  write_file_atomic(ctx.dir / "config", ctx.config.text());
  write_file_atomic(ctx.dir / "config.hash", ctx.config.hash() + "\n");
  write_file_atomic(ctx.dir / "git-revision", git_revision() + "\n");
  write_status(ctx.dir, {RunStatus::State::kRunning, ""});
  log_to_file(ctx.dir / "log.txt");
  log_settings(ctx);

  stop_requested = false;
  auto old_int = std::signal(SIGINT, on_signal);
  auto old_term = std::signal(SIGTERM, on_signal);
  RunResult result;
  try {
    result = train(ctx);
  } catch (const std::exception& e) {
    std::signal(SIGINT, old_int);
    std::signal(SIGTERM, old_term);
    const auto* err = dynamic_cast<const Error*>(&e);
    std::string why = err ? err->line() : e.what();
    write_status(ctx.dir, RunStatus::failed(why));
    close_log_file();
    throw;
  }
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  result.dir = ctx.dir;
  write_status(ctx.dir, result.status);
  if (options.plot) plot_curves(ctx.dir);
  close_log_file();
  return result;
}

}  // namespace knlp
