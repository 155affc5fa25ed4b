// train/train.h - one training run, from a .config to a results directory.
//
// A run directory is self-contained: the .config it ran (config) and its
// hash, the git revision, metrics.json, log.txt, checkpoints (last, best),
// a status file (running / done / failed: <reason>) and curves.png.
// One process writes all of it (there is no multi-process training yet).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <ostream>
#include <string>
#include <string_view>

#include "config/config.h"
#include "data/data.h"  // TokenFile
#include "models/models.h"
#include "optim/optim.h"  // ParamGroups
#include "prune/prune.h"  // PrunableParam

namespace knlp {

struct RunOptions {
  std::filesystem::path run_dir;  // where to write; empty = <OUTPUT_DIR>/<name>-<timestamp>
  bool resume = false;            // continue run_dir from its newest complete checkpoint
  bool progress = true;           // draw the progress bar (still only on a TTY)
  bool plot = true;               // draw curves.png with scripts/plot_curves.py at the end
  int64_t stop_after_steps = 0;   // checkpoint and stop as if interrupted after N steps (0: no)
};


// The run's name from what it trains: model_optimizer[_variant]_pruning[_percent][_seedN],
// "lenet5_adamw_none", "lenet5_sgd_magnitude_70", "lenet5_adamwprune_bitter7_state_50",
// "lenet5_adamw_none_seed2". Plan, run and continue of the test matrix all name runs
// with it.
std::string run_name(const RunSettings& settings);

// Creates and returns parent/<name>-<stamp>, or <name>-<stamp>-2, -3, ... when
// a run started in the same second already holds that folder (claimed with
// one mkdir each, so two processes never get the same one).
std::filesystem::path new_run_dir(const std::filesystem::path& parent, const std::string& name,
                                  const std::string& stamp);

// The dry run of `make check`: validates cfg, builds its model and optimizer,
// takes one forward, backward and optimizer step on a tiny random CPU batch and
// logs the parameter count and a training-memory estimate. Throws on failure.
void check_run(const Config& cfg);

// The parameter roles the model declares (Model::param_roles), as the
// optimizer's two groups and as the pruner's weights.
ParamGroups param_groups(Model& model);
std::vector<PrunableParam> prunable_params(Model& model);

// "auto" -> cuda when LibTorch sees a GPU, else cpu; "cpu", "cuda", "cuda:N" as given.
torch::Device pick_device(const std::string& name);

// A run's state as its status file says it, one line: "running", "done",
// "failed: <reason>" or "failed: interrupted at step N"; kNone is no file.
struct RunStatus {
  enum class State { kNone, kRunning, kDone, kFailed, kInterrupted };
  State state = State::kNone;
  std::string reason;  // kFailed: why, one line; kInterrupted: where, "at step 7"

  // kFailed with the first line of why.
  static RunStatus failed(std::string_view why);
  // kInterrupted after optimizer step `step`.
  static RunStatus interrupted(int64_t step);
  // The text of a status file (trailing newline optional; "" is kNone). Throws
  // Error (exit 2) naming `where` when the text is none of the forms above.
  static RunStatus parse(std::string_view text, const std::string& where = "status");
  // The line the status file holds, without its newline ("" for kNone).
  std::string format() const;
  // For messages: "done", "interrupted at step 7", a failure's reason, ...
  std::string describe() const;
  bool operator==(const RunStatus& o) const { return state == o.state && reason == o.reason; }
  bool operator!=(const RunStatus& o) const { return !(*this == o); }
};

// A status against the text of a status file (parsed, so "done\n" == done), and
// printed as that text: for tests that pin the strings on disk.
bool operator==(const RunStatus& status, std::string_view text);
bool operator!=(const RunStatus& status, std::string_view text);
std::ostream& operator<<(std::ostream& os, const RunStatus& status);

struct RunResult {
  std::filesystem::path dir;
  RunStatus status;  // done, or interrupted
  double best_metric = 0, final_metric = 0;  // the validation metric of `best`, and the last
};

// Trains the run cfg describes (or resumes options.run_dir, reading the .config
// saved there). Interrupted by SIGINT/SIGTERM it checkpoints, writes status
// "failed: interrupted ..." and returns. Throws Error on bad input.
RunResult run_training(const Config& cfg, const RunOptions& options);

// The status file of a run directory (kNone when there is none). Throws Error
// (exit 2) naming the file when it holds no status.
RunStatus read_status(const std::filesystem::path& run_dir);

// Writes run_dir/status atomically (status.format() and a newline).
void write_status(const std::filesystem::path& run_dir, const RunStatus& status);

// Whether run_dir holds a complete checkpoint (one with its DONE marker) that
// `run_training` with resume would continue from.
bool has_checkpoint(const std::filesystem::path& run_dir);

// A language model restored from a run directory's checkpoint.
struct TrainedModel {
  RunSettings settings;                   // from the run's saved .config
  std::shared_ptr<LanguageModel> model;   // in eval mode, on the device asked for
};

// Loads checkpoint `which` ("best" or "last") of run_dir. Throws Error (exit 2) when
// the folder holds no run, no such checkpoint, or a model that is not a language model.
TrainedModel load_trained_model(const std::filesystem::path& run_dir, const std::string& which,
                                torch::Device device);

// ---------------------------------------------------------------------------
// KV formats for decoding (train/kv_cache.cpp: kv/ behind models/' KVCache)

// A CacheSpec::kv factory for a KV format: "dense" (the model's own
// full-precision buffers) or a kv/ format name ("fp32", "bf16", "int8",
// "int4", "k8v4", ...; kv_spec_from_name), decoded by the fused kernel, or
// by dequantize + SDPA when fused is false. Throws Error (exit 2) naming --kv
// for an unknown name.
KVCacheFactory make_kv_cache_factory(const std::string& name, bool fused = true);

// The KV format a run's KvSettings (CONFIG_KV_K_*, CONFIG_KV_V_*) choose, as
// make_kv_cache_factory takes it ("k8v4").
std::string kv_format_name(const KvSettings& kv);

struct Perplexity {
  double loss;        // mean next-token cross-entropy, nats
  double perplexity;  // exp(loss)
  int64_t tokens;     // predictions averaged over
};

// Perplexity of the first n next-token predictions of tokens, in windows of
// the model's block size: through a decode cache built from *spec, `chunk`
// tokens per forward_cached call (1: token by token, as generation runs), or,
// with spec null, the full forward pass. Throws Error (exit 2) when the file
// is shorter than n + 1 tokens.
Perplexity cached_perplexity(LanguageModel& model, const TokenFile& tokens, int64_t n,
                             int64_t chunk, const CacheSpec* spec);

}  // namespace knlp
