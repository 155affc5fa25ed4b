// train/checkpoint.cpp - checkpoints that resume bit for bit.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ATen/CPUGeneratorImpl.h>

#include "train/context.h"
#include "util/check.h"
#include "util/fs.h"

namespace knlp {

namespace {

constexpr int kFormatVersion = 2;  // 2: the position is the step alone

std::filesystem::path checkpoints_dir(const RunContext& ctx) { return ctx.dir / "checkpoints"; }

std::vector<std::filesystem::path> complete_checkpoints(const std::filesystem::path& run_dir) {
  std::vector<std::filesystem::path> out;
  const auto dir = run_dir / "checkpoints";
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_directory() && std::filesystem::exists(e.path() / "DONE")) out.push_back(e.path());
  std::sort(out.begin(), out.end());  // step-NNNNNNNNN names sort by step
  return out;
}

template <typename Saveable>
void save_archive(Saveable& obj, const std::filesystem::path& path) {
  torch::serialize::OutputArchive ar;
  obj.save(ar);
  ar.save_to(path.string());
}

template <typename Loadable>
void load_archive(Loadable& obj, const std::filesystem::path& path) {
  torch::serialize::InputArchive ar;
  ar.load_from(path.string());
  obj.load(ar);
}

}  // namespace

bool has_checkpoint(const std::filesystem::path& run_dir) {
  return !complete_checkpoints(run_dir).empty();
}

void save_checkpoint(const RunContext& ctx, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, torch::nn::Module& pruner,
                     const TrainPosition& pos, bool is_best) {
  const auto name = fmt::format("step-{:09}", pos.step);
  const auto dir = checkpoints_dir(ctx) / name;
  std::filesystem::remove_all(dir);  // a partial one from a killed save
  std::filesystem::create_directories(dir);
  save_archive(model, dir / "model.pt");
  save_archive(optimizer, dir / "optimizer.pt");
  save_archive(pruner, dir / "pruner.pt");
  torch::serialize::OutputArchive rng;
  rng.write("cpu", at::detail::getDefaultCPUGenerator().get_state());
  rng.save_to((dir / "rng.pt").string());
  json state = {{"format_version", kFormatVersion},
                {"step", pos.step},
                {"extra", pos.extra},
                {"config_hash", ctx.config.hash()},
                {"config", ctx.config.text()},
                {"metrics", ctx.metrics}};
  write_file_atomic(dir / "state.json", state.dump(1));
  write_file_atomic(dir / "DONE", "");

  const auto target = std::filesystem::path("checkpoints") / name;
  replace_symlink(ctx.dir / "last", target);
  if (is_best) replace_symlink(ctx.dir / "best", target);
  // Keep the new checkpoint and the best one; older ones are only history.
  const auto best = std::filesystem::exists(ctx.dir / "best")
                        ? std::filesystem::canonical(ctx.dir / "best")
                        : std::filesystem::path();
  for (const auto& e : std::filesystem::directory_iterator(checkpoints_dir(ctx))) {
    if (e.path().filename() == name) continue;
    if (!best.empty() && std::filesystem::canonical(e.path()) == best) continue;
    std::filesystem::remove_all(e.path());
  }
  spdlog::debug("checkpoint {} written", name);
}

std::optional<TrainPosition> load_checkpoint(RunContext& ctx, torch::nn::Module& model,
                                             torch::optim::Optimizer& optimizer,
                                             torch::nn::Module& pruner) {
  auto all = complete_checkpoints(ctx.dir);
  if (all.empty()) return std::nullopt;
  const auto dir = all.back();
  json state = json::parse(read_file(dir / "state.json"));
  KNLP_CHECK_INPUT(state.value("format_version", 0) == kFormatVersion, dir.string(),
                   "checkpoint format {}; this knlp reads format {}",
                   state.value("format_version", 0), kFormatVersion);
  KNLP_CHECK_INPUT(state.value("config_hash", "") == ctx.config.hash(), dir.string(),
                   "checkpoint from another config (hash {}, the run's .config has {}); "
                   "start a new run instead",
                   state.value("config_hash", ""), ctx.config.hash());
  load_archive(model, dir / "model.pt");
  load_archive(optimizer, dir / "optimizer.pt");
  load_archive(pruner, dir / "pruner.pt");
  torch::serialize::InputArchive rng;
  rng.load_from((dir / "rng.pt").string());
  torch::Tensor cpu_state;
  rng.read("cpu", cpu_state);
  at::Generator cpu_gen = at::detail::getDefaultCPUGenerator();  // shares the global state
  cpu_gen.set_state(cpu_state);
  ctx.metrics = state["metrics"];
  TrainPosition pos;
  pos.step = state["step"];
  pos.extra = state["extra"];
  spdlog::info("resumed from {} (step {})", dir.filename().string(), pos.step);
  return pos;
}

}  // namespace knlp
