// config/resolve.cpp - .config symbols to the typed settings of one run.
//
// Every symbol the C++ side reads appears here (or in another resolve_*.cpp),
// as a string literal: `make lint`'s dead-symbol check greps for them.
#include <fmt/format.h>

#include "config/config.h"
#include "util/check.h"

namespace knlp {

namespace {

// Which symbols hold each optimizer's knobs; nullptr where it has none.
struct OptimSymbols {
  const char* name;
  const char* beta1;
  const char* beta2;
  const char* eps;
  const char* weight_decay;
  const char* momentum;
};

constexpr OptimSymbols kOptimSymbols[] = {
    {"sgd", nullptr, nullptr, nullptr, "SGD_WEIGHT_DECAY", "SGD_MOMENTUM"},
    {"adam", "ADAM_BETA1", "ADAM_BETA2", "ADAM_EPSILON", "ADAM_WEIGHT_DECAY", nullptr},
    {"adamw", "ADAMW_BETA1", "ADAMW_BETA2", "ADAMW_EPSILON", "ADAMW_WEIGHT_DECAY", nullptr},
};

// Which symbol names the dataset of each model, and what resolves the model's own symbols.
struct ModelSymbols {
  const char* name;
  const char* dataset;
  void (*resolve_model)(const Config&, RunSettings&) = nullptr;
};

constexpr ModelSymbols kModelSymbols[] = {
    {"lenet5", "LENET5_DATASET"},
    {"gpt2", "GPT2_DATASET_NAME", resolve_gpt2},
};

template <typename Row, size_t N>
const Row& lookup(const Row (&table)[N], const std::string& name, const Config& cfg,
                  const char* symbol) {
  std::string names;
  for (const auto& row : table) {
    if (name == row.name) return row;
    names += names.empty() ? row.name : fmt::format(", {}", row.name);
  }
  raise_at(cfg.origin(), fmt::format("CONFIG_{}", symbol),
           fmt::format("unknown value '{}'; accepted: {}", name, names));
}

OptimSettings resolve_optim(const Config& cfg) {
  OptimSettings o;
  o.name = cfg.get_string("OPTIMIZER");
  const auto& syms = lookup(kOptimSymbols, o.name, cfg, "OPTIMIZER");
  o.lr = cfg.get_float("LEARNING_RATE");
  KNLP_CHECK_INPUT(o.lr > 0, "CONFIG_LEARNING_RATE", "{} must be positive", o.lr);
  if (syms.beta1) o.beta1 = cfg.get_float(syms.beta1);
  if (syms.beta2) o.beta2 = cfg.get_float(syms.beta2);
  if (syms.eps) o.eps = cfg.get_float(syms.eps);
  if (syms.momentum) o.momentum = cfg.get_float(syms.momentum);
  o.weight_decay = cfg.get_float(syms.weight_decay);
  KNLP_CHECK_INPUT(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1,
                   fmt::format("CONFIG_{}", syms.beta1 ? syms.beta1 : "OPTIMIZER"),
                   "betas ({}, {}) must lie in [0, 1)", o.beta1, o.beta2);
  KNLP_CHECK_INPUT(o.weight_decay >= 0, syms.weight_decay, "{} must not be negative",
                   o.weight_decay);
  return o;
}

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
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
  bool known = false;
  for (const char* l : kLevels) known |= t.log_level == l;
  KNLP_CHECK_INPUT(known, "CONFIG_LOG_LEVEL",
                   "unknown level '{}'; accepted: trace, debug, info, warn, error", t.log_level);
  bool device_ok = t.device == "auto" || t.device == "cpu" || t.device.rfind("cuda", 0) == 0;
  KNLP_CHECK_INPUT(device_ok, "CONFIG_DEVICE",
                   "unknown device '{}'; accepted: auto, cpu, cuda, cuda:N", t.device);
  return t;
}

}  // namespace

RunSettings resolve(const Config& cfg) {
  RunSettings s;
  s.model.name = cfg.get_string("MODEL");
  const auto& model = lookup(kModelSymbols, s.model.name, cfg, "MODEL");
  s.data.dataset = cfg.get_string(model.dataset);
  s.data.dir = cfg.get_string("DATA_DIR");
  s.optim = resolve_optim(cfg);
  s.train = resolve_train(cfg);
  s.tokenizer = resolve_tokenizer(cfg);
  if (model.resolve_model) model.resolve_model(cfg, s);
  return s;
}

}  // namespace knlp
