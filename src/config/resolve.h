// config/resolve.h - private to config/: what the resolve_*.cpp files share.
#pragma once

#include "config/config.h"

namespace knlp {

// The optimizer of a run (resolve_optim.cpp). An optimizer that brings its own
// learning-rate schedule or gradient clip (AdamWAdv) sets them in `train`.
OptimSettings resolve_optim(const Config& cfg, TrainSettings& train);

}  // namespace knlp
