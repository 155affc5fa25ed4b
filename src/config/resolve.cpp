// config/resolve.cpp - .config symbols to the typed settings of one run.
//
// Every symbol the C++ side reads appears here (or in another resolve_*.cpp),
// as a string literal: `make lint`'s dead-symbol check greps for them.
#include <fmt/format.h>

#include "config/config.h"
#include "config/resolve.h"
#include "util/check.h"
#include "util/registry.h"  // find_row, accepted_names, lookup

namespace knlp {

namespace {

TrainSettings resolve_train(const Config& cfg) {
  TrainSettings t;
  t.epochs = cfg.get_int("NUM_EPOCHS");
  t.validation_images = cfg.get_int("VALIDATION_IMAGES", t.validation_images);
  t.batch_size = cfg.get_int("BATCH_SIZE");
  t.seed = static_cast<uint64_t>(cfg.get_int("SEED"));
  t.device = cfg.get_string("DEVICE");
  t.threads = cfg.get_int("TRAIN_THREADS");
  t.output_dir = cfg.get_string("OUTPUT_DIR");
  t.checkpoint_interval = cfg.get_int("CHECKPOINT_INTERVAL");
  t.log_level = cfg.get_string("LOG_LEVEL");
  t.seed_in_name = cfg.get_bool("MATRIX_SEED_IN_NAME");
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
  KNLP_CHECK_INPUT(find_row(kLevels, t.log_level), "CONFIG_LOG_LEVEL",
                   "unknown level '{}'; accepted: {}", t.log_level, accepted_names(kLevels));
  bool device_ok = t.device == "auto" || t.device == "cpu" || t.device.rfind("cuda", 0) == 0;
  KNLP_CHECK_INPUT(device_ok, "CONFIG_DEVICE",
                   "unknown device '{}'; accepted: auto, cpu, cuda, cuda:N", t.device);
  return t;
}

}  // namespace

const std::vector<ModelSymbols>& model_symbols() {
  static const std::vector<ModelSymbols> rows = {
      {"lenet5", "LENET5_DATASET", "image-classification", true, nullptr, 0.0,
       "MODEL_SELECT_LENET5", "MODEL_ENABLE_LENET5"},
      {"resnet18", "RESNET18_DATASET", "image-classification", true, resolve_resnet, 0.0,
       "MODEL_SELECT_RESNET18", "MODEL_ENABLE_RESNET18"},
      {"resnet50", "RESNET50_DATASET", "image-classification", true, resolve_resnet, 0.0,
       "MODEL_SELECT_RESNET50", "MODEL_ENABLE_RESNET50"},
      {"gpt2", "GPT2_DATASET_NAME", "language-model", false, resolve_gpt2, 1.0,
       "MODEL_SELECT_GPT2", "MODEL_ENABLE_GPT2"},
  };
  return rows;
}

RunSettings resolve(const Config& cfg) {
  KNLP_CHECK_INPUT(!is_matrix(cfg), "CONFIG_MATRIX",
                   "{} is a test matrix, not one run; run it with 'make' or 'knlp matrix run'",
                   cfg.origin());
  RunSettings s;
  s.model.name = cfg.get_string("MODEL");
  const auto& model = lookup(model_symbols(), s.model.name, cfg.origin(), "CONFIG_MODEL");
  s.data.dataset = cfg.get_string(model.dataset);
  s.data.dir = cfg.get_string("DATA_DIR");
  s.train = resolve_train(cfg);
  s.train.task = model.task;
  s.train.grad_clip = model.grad_clip;
  s.optim = resolve_optim(cfg, s.train);
  s.tokenizer = resolve_tokenizer(cfg);
  s.prune = resolve_prune(cfg, !model.in_epochs);
  s.kv = resolve_kv(cfg);
  if (model.resolve_model) model.resolve_model(cfg, s);
  // SPAM clips inside its step, after its spike test has seen the raw norm
  // (docs/optimizers.md); the loop then leaves the gradients alone.
  if (s.optim.spam.enabled) std::swap(s.optim.spam.grad_clip, s.train.grad_clip);
  return s;
}

}  // namespace knlp
