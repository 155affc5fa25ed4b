// config/resolve.h - private to config/: what the resolve_*.cpp files share.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <string>

#include "config/config.h"
#include "util/check.h"
#include "util/registry.h"

namespace knlp {

// The row of `table` named `name`; an unknown name is an error (exit 2) naming
// CONFIG_<symbol> and listing the accepted names.
template <typename Table>
const auto& lookup(const Table& table, const std::string& name, const Config& cfg,
                   const char* symbol) {
  return lookup(table, name, cfg.origin(), fmt::format("CONFIG_{}", symbol));
}

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
