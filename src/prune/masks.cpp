// prune/masks.cpp - the one pruning mechanism every method shares.
//
// Each prunable weight has a bool mask buffer (1 byte per weight, saved with
// the pruner). Before a step the gradients of pruned weights are zeroed;
// after it the weights and their Adam moments (exp_avg, exp_avg_sq,
// max_exp_avg_sq) are multiplied by the mask. Every `frequency` steps after
// the warmup the masks are recomputed: the schedule gives the sparsity s,
// the score ranks the weights, and exactly floor(s N) of them are pruned.
// A pruned weight scores -inf from then on, so it never comes back.
#include <spdlog/spdlog.h>

#include <cmath>
#include <limits>
#include <unordered_set>

#include "prune/masks.h"
#include "util/check.h"
#include "util/registry.h"  // lookup

namespace knlp {

namespace {

using ThresholdFn = std::vector<torch::Tensor> (*)(const std::vector<torch::Tensor>& scores,
                                                   int64_t k, double fraction);

std::vector<torch::Tensor> exact(const std::vector<torch::Tensor>& scores, int64_t k, double) {
  return prune_lowest(scores, k);
}

struct Threshold {
  const char* name;
  ThresholdFn fn;
};

const Threshold kThresholds[] = {
    {"exact", exact},
    {"sampled", prune_lowest_sampled},
};

ThresholdFn find_threshold(const std::string& name) {
  return lookup(kThresholds, name, "pruning", "threshold").fn;
}

// Buffer names may not contain dots: "layer1.0.conv1.weight" -> "layer1_0_conv1_weight".
std::string buffer_name(std::string name) {
  for (auto& ch : name)
    if (ch == '.') ch = '_';
  return name;
}

class MaskPruner : public Pruner {
 public:
  MaskPruner(const PruneSettings& settings, std::vector<PrunableParam> params,
             std::string scorer)
      : s_(settings),
        scorer_(std::move(scorer)),
        traits_(scorer_traits(scorer_)),
        threshold_(find_threshold(settings.threshold)),
        ramp_end_(settings.ramp_end_step) {
    schedule_fraction(s_.schedule, 0.0);  // an unknown schedule fails here, not mid-run
    KNLP_CHECK_INPUT(s_.frequency > 0, "pruning", "frequency {} must be positive", s_.frequency);
    params_ = std::move(params);
    std::unordered_set<std::string> names;
    for (const auto& p : params_) {
      const auto name = buffer_name(p.name);
      KNLP_CHECK(names.insert(name).second, "pruning", "two prunable weights map to buffer {}",
                 name);
      masks_.push_back(register_buffer(name + "_mask", torch::ones_like(p.weight, torch::kBool)));
      if (traits_.needs_initial)
        initial_.push_back(register_buffer(name + "_w0", p.weight.detach().clone()));
      c_.push_back(s_.weights.of(p.cls));
    }
  }

  void mask_gradients() override {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
      auto& g = params_[i].weight.mutable_grad();
      if (g.defined()) g.mul_(masks_[i]);
    }
  }

  void after_step(int64_t step, const MomentsLookup& moments) override {
    if (step <= s_.warmup_steps) return;  // nothing is pruned yet
    torch::NoGradGuard no_grad;
    if (step % s_.frequency == 0) update_masks(target_at(step), moments);
    for (size_t i = 0; i < params_.size(); ++i) {
      const auto& mask = masks_[i];
      params_[i].weight.mul_(mask);
      const Moments m = moments(params_[i].weight);
      for (const auto* t : {&m.exp_avg, &m.exp_avg_sq, &m.max_exp_avg_sq})
        if (t->defined() && t->numel() == mask.numel()) t->mul_(mask);
    }
  }

  double target_at(int64_t step) const override {
    return scheduled_sparsity(s_, ramp_end_, step);
  }

  double overall_sparsity(double target) const override {
    int64_t pruned = 0, total = 0;
    for (const auto& p : params_) total += p.weight.numel();
    if (!traits_.per_layer) {
      pruned = prune_count(target, total);
    } else {
      for (size_t i = 0; i < params_.size(); ++i)
        pruned += prune_count(layer_sparsity(target, i, params_.size()), params_[i].weight.numel());
    }
    return total ? static_cast<double>(pruned) / static_cast<double>(total) : 0.0;
  }

 private:
  // Scores every weight (pruned ones -inf) and prunes exactly floor(s N) of them,
  // or floor(s_l n_l) of each layer for a per-layer score.
  void update_masks(double sparsity, const MomentsLookup& moments) {
    std::vector<torch::Tensor> scores;
    int64_t total = 0;
    for (size_t i = 0; i < params_.size(); ++i) {
      const auto& w = params_[i].weight;
      const Moments m = moments(w);
      ScoreInput in{w.detach(), traits_.needs_initial ? initial_[i] : torch::Tensor(),
                    m.exp_avg, m.exp_avg_sq, c_[i]};
      auto score = prune_score(scorer_, in).to(torch::kFloat32);  // (shape of w)
      scores.push_back(score.masked_fill_(masks_[i].logical_not(),
                                          -std::numeric_limits<float>::infinity()));
      total += w.numel();
    }
    std::vector<torch::Tensor> keep;
    if (traits_.per_layer) {
      for (size_t i = 0; i < scores.size(); ++i) {
        const double s = layer_sparsity(sparsity, i, scores.size());
        keep.push_back(threshold_({scores[i]}, prune_count(s, scores[i].numel()),
                                  s_.sample_fraction)[0]);
      }
    } else {
      keep = threshold_(scores, prune_count(sparsity, total), s_.sample_fraction);
    }
    for (size_t i = 0; i < masks_.size(); ++i) masks_[i].logical_and_(keep[i]);
    spdlog::debug("pruning: masks updated to {:.2f}% (target {:.2f}%)", 100 * sparsity_of_masks(),
                  100 * sparsity);
  }

  double sparsity_of_masks() const {
    int64_t pruned = 0, total = 0;
    for (const auto& m : masks_) {
      pruned += m.numel() - m.sum().item<int64_t>();
      total += m.numel();
    }
    return total ? static_cast<double>(pruned) / static_cast<double>(total) : 0.0;
  }

  PruneSettings s_;
  std::string scorer_;
  ScorerTraits traits_;
  ThresholdFn threshold_;
  int64_t ramp_end_;
  std::vector<torch::Tensor> masks_;    // bool, true = keep; registered buffers
  std::vector<torch::Tensor> initial_;  // w0 (movement only); registered buffers
  std::vector<double> c_;               // structural weight of each parameter
};

}  // namespace

int64_t prune_count(double sparsity, int64_t n) {
  // floor(s n), allowing for s n landing just below an integer in floating point
  return static_cast<int64_t>(std::floor(sparsity * static_cast<double>(n) + 1e-6));
}

std::shared_ptr<Pruner> make_mask_pruner(const PruneSettings& settings,
                                         std::vector<PrunableParam> params,
                                         const std::string& scorer) {
  return std::make_shared<MaskPruner>(settings, std::move(params), scorer);
}

}  // namespace knlp
