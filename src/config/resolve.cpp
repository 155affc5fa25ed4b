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

// Which symbol names the dataset of each model, and what resolves the model's own symbols.
struct ModelSymbols {
  const char* name;
  const char* dataset;
  void (*resolve_model)(const Config&, RunSettings&) = nullptr;
};

constexpr ModelSymbols kModelSymbols[] = {
    {"lenet5", "LENET5_DATASET"},
    {"resnet18", "RESNET18_DATASET", resolve_resnet},
    {"resnet50", "RESNET50_DATASET", resolve_resnet},
    {"gpt2", "GPT2_DATASET_NAME", resolve_gpt2},
};

TrainSettings resolve_train(const Config& cfg) {
  TrainSettings t;
  t.epochs = cfg.get_int("NUM_EPOCHS");
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

RunSettings resolve(const Config& cfg) {
  KNLP_CHECK_INPUT(!is_matrix(cfg), "CONFIG_MATRIX",
                   "{} is a test matrix, not one run; run it with 'make' or 'knlp matrix run'",
                   cfg.origin());
  RunSettings s;
  s.model.name = cfg.get_string("MODEL");
  const auto& model = lookup(kModelSymbols, s.model.name, cfg.origin(), "CONFIG_MODEL");
  s.data.dataset = cfg.get_string(model.dataset);
  s.data.dir = cfg.get_string("DATA_DIR");
  s.train = resolve_train(cfg);
  s.optim = resolve_optim(cfg, s.train);
  s.tokenizer = resolve_tokenizer(cfg);
  s.prune = resolve_prune(cfg);
  s.kv = resolve_kv(cfg);
  if (model.resolve_model) model.resolve_model(cfg, s);
  return s;
}

}  // namespace knlp
