// train/task.h - private to train/: what a task tells the one training loop.
//
// The loop (loop.cpp) owns steps, the learning-rate schedule, accumulation,
// clipping, the optimizer and pruner steps, evaluation and checkpoint cadence,
// signals, the time budget, metrics and the progress bar. A task supplies
// only what differs between kinds of training: its data and batches, its
// evaluation and the metric it is judged by. Tasks are rows of kTasks
// (tasks.cpp), found by the name a model's resolve row gives (TrainSettings::task).
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <memory>
#include <string>

#include "config/config.h"
#include "models/models.h"

namespace knlp {

// A generator for draw `index` of stream `stream` of a run seeded `seed`:
// splitmix64 of the three, so no two (stream, index) pairs share a seed.
torch::Generator stream_generator(uint64_t seed, uint64_t stream, uint64_t index);

// The streams of every task, one number each.
enum Stream : uint64_t {
  kTrainWindows = 1,  // language models: the windows of micro-batch (step, k)
  kEvalWindows = 2,   // language models: the fixed validation windows
  kEpochOrder = 3,    // image models: the order of epoch e
  kAugment = 4,       // image models: the augmentation of step s
  kSplit = 5,         // image models: which training images are held out
};

// bf16 autocast on CUDA for the lifetime of the guard (a no-op when off).
class Autocast {
 public:
  explicit Autocast(bool on);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool on_;
};

// One evaluation: the mean loss and the task's metric (accuracy in %, perplexity).
struct Evaluation {
  double loss = 0, metric = 0;
};

class Task {
 public:
  virtual ~Task() = default;

  // The metric models are ranked and selected by ("accuracy", "perplexity").
  virtual std::string metric() const = 0;
  virtual bool higher_is_better() const = 0;
  // What one sample is ("images", "tokens") and how many a micro-batch holds, for
  // rates (metrics' <unit>_per_s).
  virtual std::string unit() const = 0;
  virtual int64_t samples_per_micro_batch() const = 0;
  // The optimizer steps of one epoch; 0 for tasks that count in steps only.
  virtual int64_t steps_per_epoch() const { return 0; }
  // Steps between evaluations (and checkpoints).
  virtual int64_t eval_interval() const = 0;
  virtual bool has_test_split() const { return false; }

  // Micro-batch `micro` of step `step` (0-based), on the device: a pure
  // function of (seed, step, micro), so a resumed run reads the same batches.
  virtual Batch train_batch(int64_t step, int64_t micro) = 0;
  // The task's metric summed over a training micro-batch (correct predictions
  // for accuracy), or 0 when the metric follows from the loss alone.
  virtual double train_metric_sum(const ModelOutput& out, const Batch& batch) = 0;
  // The metric of a mean loss and of metric sums over n samples.
  virtual double metric_of(double mean_loss, double metric_sum, int64_t samples) const = 0;

  // The held-out split models are selected on, and the test split (has_test_split()).
  virtual Evaluation validate(Model& model) = 0;
  virtual Evaluation test(Model& model) {
    (void)model;
    return {};
  }

  // Called once the model exists, before any checkpoint is loaded: checks the
  // data against it, logs what the task knows, adds its fields to metrics.json
  // ("dataset", "data", "lm", ...).
  virtual void describe(Model& model, nlohmann::json& metrics) = 0;
  // Starts the model from weights when the settings ask (not when resumed).
  virtual void initialize(Model& model) { (void)model; }
  // Fields of a train metrics point that follow from a rate of samples/s.
  virtual nlohmann::json rate_fields(double samples_per_s) const {
    (void)samples_per_s;
    return nlohmann::json::object();
  }
};

// Loads the task's data for settings, completes settings.model from it (image
// shape, classes, vocabulary) and settings.train.max_steps from the epochs.
// Throws Error (exit 2) naming the task when settings.train.task is unknown.
std::unique_ptr<Task> make_task(RunSettings& settings, torch::Device device);

// The validation split of an image data set: `n` of its `size` training
// images, the first n of a permutation drawn from (seed, kSplit), and the rest
// for training; each list ascending. Throws Error (exit 2) naming
// CONFIG_VALIDATION_IMAGES when n leaves no training image.
struct ImageSplit {
  torch::Tensor train, validation;  // (size - n), (n) int64 indices
};
ImageSplit hold_out(int64_t size, int64_t n, uint64_t seed);

// The image-classification and language-model rows of the task table.
std::unique_ptr<Task> make_image_task(RunSettings& settings, torch::Device device);
std::unique_ptr<Task> make_lm_task(RunSettings& settings, torch::Device device);

// A model's settings completed for a dry run without data, and a tiny random
// batch for it (`knlp check`).
struct DryRunInput {
  ModelSettings model;
  Batch batch;
  double sample_scale = 1.0;  // activations of one real sample / of one sample of batch
};
DryRunInput dry_run_input(const RunSettings& settings, int64_t batch_size);
DryRunInput image_dry_run(const RunSettings& settings, int64_t batch_size);
// Random token ids, min(block size, 16) per sequence (cheap for 124M on a CPU);
// sample_scale = block size / 16, as activations grow about linearly with T.
DryRunInput lm_dry_run(const RunSettings& settings, int64_t batch_size);

// The length of a run, known without loading data: max_steps for language
// models; for image models epochs x ceil(training images / batch), the images
// of the full data set less the validation split.
struct PlannedSteps {
  int64_t steps, steps_per_epoch;  // steps_per_epoch 0: counted in steps
};
PlannedSteps planned_steps(const RunSettings& settings);

}  // namespace knlp
