// prune/schedule.cpp - how the target sparsity grows from 0 to s_f.
//
// Nothing is pruned through the warmup; then the ramp progress p goes from 0
// to 1 at the ramp end, and the target is s_f times the shape's fraction of p.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "prune/prune.h"
#include "util/check.h"
#include "util/registry.h"  // lookup

namespace knlp {

namespace {

// knlp's ramp: slow start, steepest at the end.
double cubic(double p) { return p * p * p; }
// Zhu & Gupta (2017): fast start, flattening toward the end.
double zhu_gupta(double p) { return 1.0 - std::pow(1.0 - p, 3); }
double linear(double p) { return p; }

struct Shape {
  const char* name;
  double (*fraction)(double p);
};

const Shape kShapes[] = {
    {"cubic", cubic},
    {"zhu-gupta", zhu_gupta},
    {"linear", linear},
};

}  // namespace

double schedule_fraction(std::string_view shape, double p) {
  return lookup(kShapes, shape, "pruning", "schedule").fraction(std::clamp(p, 0.0, 1.0));
}

double scheduled_sparsity(const PruneSettings& settings, int64_t ramp_end_step, int64_t step) {
  const int64_t w = settings.warmup_steps;
  if (step <= w) return 0.0;
  const double p = ramp_end_step > w ? static_cast<double>(step - w) /
                                           static_cast<double>(ramp_end_step - w)
                                     : 1.0;
  return settings.target_sparsity * schedule_fraction(settings.schedule, std::min(p, 1.0));
}

}  // namespace knlp
