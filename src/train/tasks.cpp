// train/tasks.cpp - the task table, the seeded streams and the autocast guard
// every task shares.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>

#include "data/data.h"
#include "train/task.h"
#include "util/check.h"
#include "util/registry.h"

namespace knlp {

namespace {

struct TaskRow {
  const char* name;
  std::unique_ptr<Task> (*make)(RunSettings& settings, torch::Device device);
  DryRunInput (*dry_run)(const RunSettings& settings, int64_t batch_size);
};

const TaskRow kTasks[] = {
    {"image-classification", make_image_task, image_dry_run},
    {"language-model", make_lm_task, lm_dry_run},
};

const TaskRow& task_row(const std::string& name) {
  return lookup(kTasks, name, "training", "task");
}

}  // namespace

torch::Generator stream_generator(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + stream * 0xBF58476D1CE4E5B9ULL + index;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return at::make_generator<at::CPUGeneratorImpl>(z ^ (z >> 31));
}

Autocast::Autocast(bool on) : on_(on) {
  if (!on_) return;
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::increment_nesting();
}

Autocast::~Autocast() {
  if (!on_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(at::kCUDA, false);
}

std::unique_ptr<Task> make_task(RunSettings& settings, torch::Device device) {
  return task_row(settings.train.task).make(settings, device);
}

DryRunInput dry_run_input(const RunSettings& settings, int64_t batch_size) {
  return task_row(settings.train.task).dry_run(settings, batch_size);
}

PlannedSteps planned_steps(const RunSettings& s) {
  if (s.train.max_steps > 0) return {s.train.max_steps, 0};
  const int64_t train_images = image_shape(s.data).train_images - s.train.validation_images;
  const int64_t per_epoch = (train_images + s.train.batch_size - 1) / s.train.batch_size;
  return {s.train.epochs * per_epoch, per_epoch};
}

}  // namespace knlp
