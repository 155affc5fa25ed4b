// config/resolve.h - private to config/: what the resolve_*.cpp files share.
#pragma once

#include "config/config.h"
#include "util/check.h"
#include "util/registry.h"

namespace knlp {

// A model's row: every symbol of it that the config module reads, the task that
// trains it (train/'s task table), whether its length is said in epochs (image
// data) or steps, and the global gradient-norm clip it trains with unless its
// optimizer brings one (the reference clips GPT-2 at 1.0). Its network is a row
// of models/registry.cpp's kModels under the same name.
struct ModelSymbols {
  const char* name;
  const char* dataset;  // the symbol naming its dataset
  const char* task;
  bool in_epochs;
  void (*resolve_model)(const Config&, RunSettings&);  // its own symbols; nullptr: none
  double grad_clip;
  const char* select;  // the choice entry that trains it alone
  const char* enable;  // the bool that lists it in a test matrix
};
const std::vector<ModelSymbols>& model_symbols();

// The optimizer of a run (resolve_optim.cpp). An optimizer that brings its own
// learning-rate schedule or gradient clip (AdamWAdv) sets them in `train`.
OptimSettings resolve_optim(const Config& cfg, TrainSettings& train);

}  // namespace knlp
