// train/context.h - private to train/: what every trainer shares.
//
// A RunContext owns the run directory: status, metrics.json and checkpoints.
// Checkpoints live in checkpoints/step-NNNNNNN/ and count only once their DONE
// marker is written; `last` and `best` are symbolic links swapped atomically.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <optional>
#include <string>

#include "config/config.h"
#include "models/models.h"
#include "prune/prune.h"
#include "train/train.h"

namespace knlp {

// Set by SIGINT/SIGTERM while a run is in progress; trainers poll it between steps.
extern std::atomic<bool> stop_requested;

using json = nlohmann::json;

struct RunContext {
  Config config;
  RunSettings settings;
  std::filesystem::path dir;
  torch::Device device = torch::kCPU;
  json metrics;  // the document written to metrics.json (schema: docs/metrics.md)
  bool progress = true;
  int64_t stop_after_steps = 0;  // RunOptions::stop_after_steps

  // True when the trainer should checkpoint and stop after step `step`.
  bool should_stop(int64_t step) const {
    return stop_requested.load() || (stop_after_steps > 0 && step >= stop_after_steps);
  }

  // Starts `metrics` with the fields every run has (docs/metrics.md): run, name,
  // model, optimizer, pruning, seed, device, ..., the selection metric, and
  // empty train and eval arrays (the task adds its dataset).
  void start_metrics(int64_t num_params, const std::string& metric, bool higher_is_better);
  // Rewrites metrics.json atomically from `metrics`.
  void write_metrics() const;
};

// Where training stands: the optimizer steps taken (every batch is a function
// of the step) and the loop's own counters.
struct TrainPosition {
  int64_t step = 0;
  json extra = json::object();  // the loop's sums since the last point and eval, best, ...
};

// Writes a complete checkpoint of model, optimizer, pruner, RNG and position, then
// points `last` (and `best` when is_best) at it and deletes older ones.
void save_checkpoint(const RunContext& ctx, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, torch::nn::Module& pruner,
                     const TrainPosition& pos, bool is_best);

// Restores the newest complete checkpoint of ctx.dir into model, optimizer and
// pruner; nullopt when there is none. Throws Error (exit 2) when the checkpoint
// was written by another configuration or another format version.
std::optional<TrainPosition> load_checkpoint(RunContext& ctx, torch::nn::Module& model,
                                             torch::optim::Optimizer& optimizer,
                                             torch::nn::Module& pruner);

// The one training loop (loop.cpp): trains ctx's run through its task.
RunResult train(RunContext& ctx);

// The learning rate of step (0-based): t.warmup_steps linear from 0, then
// constant, or a half cosine from lr to t.lr_min ending at t.max_steps.
double learning_rate_at(const TrainSettings& t, double lr, int64_t step);

// An epoch-based ramp end (image models) turned into steps, once.
void resolve_ramp(PruneSettings& prune, int64_t steps_per_epoch);

// Throws Error (exit 2) naming the ramp-end symbol when the run's last mask
// update (steps rounded down to the frequency) comes before the ramp reaches
// its target: the run would end short of its sparsity.
void check_ramp(const PruneSettings& prune, const Pruner& pruner, int64_t steps, bool in_epochs);

// Peak resident memory of this process so far, in MiB.
double peak_rss_mib();

}  // namespace knlp
