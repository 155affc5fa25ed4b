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
  // model, dataset, optimizer, pruning, seed, device, ..., the ranking metric, and
  // empty train and eval arrays.
  void start_metrics(const std::string& dataset, int64_t num_params, const std::string& metric,
                     bool higher_is_better);
  // Rewrites metrics.json atomically from `metrics`.
  void write_metrics() const;
};

// Where training stands: the next step to take and the trainer's own counters.
struct TrainPosition {
  int64_t step = 0;   // optimizer steps taken
  int64_t epoch = 0;  // epoch in progress (0-based)
  int64_t batch = 0;  // next batch within that epoch
  json extra = json::object();  // trainer accumulators (partial-epoch sums, best, ...)
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

// Prunable weights: every Linear and Conv2d weight, in module order.
std::vector<PrunableParam> prunable_params(torch::nn::Module& model);

// The trainer of each kind of model.
RunResult train_classifier(RunContext& ctx);
RunResult train_lm(RunContext& ctx);  // iteration-based, language models (lm.cpp)

// A model's settings completed from its data, and a tiny random batch for it:
// what `knlp check` needs to build the model and take one step without data.
struct DryRunInput {
  ModelSettings model;
  Batch batch;
  double sample_scale = 1.0;  // activations of one real sample / of one sample of batch
};
DryRunInput classifier_dry_run(const RunSettings& settings, int64_t batch_size);
// Random token ids, min(block size, 16) per sequence (cheap for 124M on a CPU);
// sample_scale = block size / 16, as activations grow about linearly with T.
DryRunInput lm_dry_run(const RunSettings& settings, int64_t batch_size);

// How each model is trained, dry-run and measured: one row per model name.
struct TrainerEntry {
  const char* model;
  RunResult (*train)(RunContext& ctx);
  DryRunInput (*dry_run)(const RunSettings& settings, int64_t batch_size);
  std::string (*length)(const RunSettings& settings);  // "10 epochs of batch 128"
};
const TrainerEntry& trainer_for(const std::string& model);


// Peak resident memory of this process so far, in MiB.
double peak_rss_mib();

}  // namespace knlp
