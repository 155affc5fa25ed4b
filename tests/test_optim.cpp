// The Adam family (AdamWAdv, AdamWSpam, AdamWPrune): updates worked out by
// hand on a few values, SPAM on scripted gradients, state round trips, and
// how the optimizer symbols resolve.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <sstream>

#include "config/config.h"
#include "fixtures.h"
#include "optim/optim.h"
#include "train/train.h"
#include "util/check.h"
#include "util/fs.h"

namespace {

using knlp::AdamFamily;
using knlp::AdamFamilyOptions;
using knlp::AdamFamilyParamState;
using knlp::SpamSettings;
using torch::optim::OptimizerParamGroup;

torch::Tensor param(std::vector<double> v, torch::Dtype dtype = torch::kFloat) {
  return torch::tensor(v, torch::dtype(dtype)).requires_grad_();
}

void set_grad(torch::Tensor& p, std::vector<double> g) {
  p.mutable_grad() = torch::tensor(g, torch::dtype(p.scalar_type()));
}

AdamFamilyParamState& state_of(torch::optim::Optimizer& opt, const torch::Tensor& p) {
  auto it = opt.state().find(p.unsafeGetTensorImpl());
  EXPECT_NE(it, opt.state().end());
  return static_cast<AdamFamilyParamState&>(*it->second);
}

void expect_values(const torch::Tensor& t, std::vector<double> want, double tol) {
  auto got = t.detach().to(torch::kDouble).contiguous();
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got.data_ptr<double>()[i], want[i], tol) << "element " << i;
}

// SPAM with only the parts a test names switched on.
SpamSettings spam_off_but(bool clip) {
  SpamSettings s;
  s.enabled = true;
  s.clip = clip;
  s.spike_threshold = 1e9;
  return s;
}

}  // namespace

// Two AdamW steps on p = (1, -2), lr 0.1, wd 0.1, betas (0.9, 0.999), eps 1e-8.
// Step 1, g = (0.5, 0.25): decay p *= 1 - 0.01 -> (0.99, -1.98); m = 0.1 g,
//   v = 0.001 g^2; m^ = m / 0.1 = g, sqrt(v^) = sqrt(v / 0.001) = |g|, so the
//   step is 0.1 * sign(g): p = (0.89, -2.08).
// Step 2, g = (-0.5, 0.5): decay -> (0.8811, -2.0592); m = 0.9 m + 0.1 g =
//   (-0.005, 0.0725); v = 0.999 v + 0.001 g^2 = (0.00049975, 0.0003124375);
//   bc1 = 0.19, bc2 = 0.001999; m^ = (-0.0263158, 0.3815789);
//   sqrt(v^) = (0.5000000, 0.3953440); p -= 0.1 m^ / sqrt(v^):
//   0.8811 + 0.0052632 = 0.8863632, -2.0592 - 0.0965182 = -2.1557182.
// fp32: 1e-6 is a few ulps at these magnitudes.
TEST(AdamFamily, AdamWWithDecayMatchesTheClosedForm) {
  auto p = param({1.0, -2.0});
  AdamFamily opt({OptimizerParamGroup({p})}, AdamFamilyOptions(0.1).weight_decay(0.1));
  set_grad(p, {0.5, 0.25});
  opt.step();
  expect_values(p, {0.89, -2.08}, 1e-6);
  set_grad(p, {-0.5, 0.5});
  opt.step();
  expect_values(state_of(opt, p).exp_avg(), {-0.005, 0.0725}, 1e-8);
  expect_values(state_of(opt, p).exp_avg_sq(), {0.00049975, 0.0003124375}, 1e-10);
  expect_values(p, {0.8863632, -2.1557182}, 1e-6);
  EXPECT_EQ(state_of(opt, p).step(), 2);
}

// The independent reference: LibTorch's own AdamW and Adam, fed the same
// gradients, must end bit-identical to the family with decoupled decay on/off.
TEST(AdamFamily, EqualsLibTorchAdamWAndAdamBitForBit) {
  for (bool amsgrad : {false, true})
    for (bool decoupled : {true, false}) {
      torch::manual_seed(3);
      auto a = torch::randn({4, 3}).requires_grad_();
      auto b = a.detach().clone().requires_grad_();
      AdamFamily ours({OptimizerParamGroup({a})}, AdamFamilyOptions(0.01)
                                                      .weight_decay(0.1)
                                                      .amsgrad(amsgrad)
                                                      .decoupled(decoupled));
      std::unique_ptr<torch::optim::Optimizer> ref;
      if (decoupled)
        ref = std::make_unique<torch::optim::AdamW>(
            std::vector<torch::Tensor>{b},
            torch::optim::AdamWOptions(0.01).weight_decay(0.1).amsgrad(amsgrad));
      else
        ref = std::make_unique<torch::optim::Adam>(
            std::vector<torch::Tensor>{b},
            torch::optim::AdamOptions(0.01).weight_decay(0.1).amsgrad(amsgrad));
      for (int i = 0; i < 5; ++i) {
        auto g = torch::randn({4, 3});
        a.mutable_grad() = g.clone();
        b.mutable_grad() = g.clone();
        ours.step();
        ref->step();
      }
      EXPECT_TRUE(torch::equal(a, b)) << "amsgrad " << amsgrad << " decoupled " << decoupled;
    }
}

// p = 1, lr 0.1, no decay; g = 1 then 0. v: 0.001, then 0.999 * 0.001 = 0.000999,
// but AMSGrad keeps max(v) = 0.001 and divides by it. Step 2: m = 0.09, bc1 =
// 0.19, bc2 = 0.001999: p = 0.9 - 0.1 * (0.09 / 0.19) / sqrt(0.001 / 0.001999)
// = 0.9 - 0.0669723 = 0.8330277 (dividing by v instead would give 0.8329942).
// fp64, so 1e-9 separates the two.
TEST(AdamFamily, AmsgradDividesByTheRunningMaximum) {
  auto p = param({1.0}, torch::kDouble);
  AdamFamily opt({OptimizerParamGroup({p})}, AdamFamilyOptions(0.1).amsgrad(true));
  set_grad(p, {1.0});
  opt.step();
  set_grad(p, {0.0});
  opt.step();
  expect_values(state_of(opt, p).exp_avg_sq(), {0.000999}, 1e-12);
  expect_values(state_of(opt, p).max_exp_avg_sq(), {0.001}, 1e-12);
  expect_values(p, {0.8330276878}, 1e-9);
}

// theta 50. Step 1, g = (1, -2, 0.5) (no state yet: not clipped) leaves
// v = 0.001 g^2 = (0.001, 0.004, 0.00025), so the bounds sqrt(50 (v + 1e-12))
// are (0.2236068, 0.4472136, 0.1118034). Step 2, g = (0.1, -3, -0.5) is
// clipped to (0.1, -0.4472136, -0.1118034) and m = 0.9 (0.1, -0.2, 0.05) +
// 0.1 g = (0.1, -0.2247214, 0.0338197). Without the clip m_1 would be -0.48.
TEST(AdamWSpam, ClipsEachElementAgainstThePreviousSecondMoment) {
  for (bool clip : {true, false}) {
    auto p = param({0.0, 0.0, 0.0}, torch::kDouble);
    AdamFamily opt({OptimizerParamGroup({p})}, AdamFamilyOptions(1e-3), spam_off_but(clip));
    set_grad(p, {1.0, -2.0, 0.5});
    opt.step();
    expect_values(p.grad(), {1.0, -2.0, 0.5}, 0);
    set_grad(p, {0.1, -3.0, -0.5});
    opt.step();
    if (clip) {
      expect_values(p.grad(), {0.1, -0.4472136, -0.1118034}, 1e-7);
      expect_values(state_of(opt, p).exp_avg(), {0.1, -0.2247214, 0.0338197}, 1e-7);
    } else {
      expect_values(state_of(opt, p).exp_avg(), {0.1, -0.48, -0.005}, 1e-12);
    }
  }
}

// Two weights with gradients (3k, 4k): the global norm is 5k. Norms 5, 10, 5,
// ..., 5 (nine steps: five 5s, four 10s) have mean 65/9 and population sd
// 5 sqrt(20)/9. A tenth norm of 50 has z = (50 - 65/9) / (5 sqrt(20) / 9)
// = 77 / sqrt(20) = 17.2 > 2: m *= 0.5 and v *= 0.9 before the update, so
// m10 = 0.9 (0.5 m9) + 0.1 g and v10 = 0.999 (0.9 v9) + 0.001 g^2. A tenth
// norm of 10 has z = 5 / sqrt(20) = 1.118: a spike at threshold 1, not at 2.
TEST(AdamWSpam, ZScoreSpikeSoftResetsTheMoments) {
  struct Case {
    double k, threshold;
    bool spike;
  };
  for (auto c : {Case{10, 2.0, true}, Case{2, 2.0, false}, Case{2, 1.0, true}}) {
    auto a = param({0.0}, torch::kDouble), b = param({0.0}, torch::kDouble);
    SpamSettings s = spam_off_but(false);
    s.spike_threshold = c.threshold;
    AdamFamily opt({OptimizerParamGroup({a, b})}, AdamFamilyOptions(1e-3), s);
    for (int i = 0; i < 9; ++i) {
      const double k = i % 2 ? 2.0 : 1.0;
      set_grad(a, {3 * k});
      set_grad(b, {4 * k});
      opt.step();
    }
    const auto m9 = state_of(opt, a).exp_avg().item<double>();
    const auto v9 = state_of(opt, b).exp_avg_sq().item<double>();
    set_grad(a, {3 * c.k});
    set_grad(b, {4 * c.k});
    opt.step();
    const double mf = c.spike ? 0.5 : 1.0, vf = c.spike ? 0.9 : 1.0;
    expect_values(state_of(opt, a).exp_avg(), {0.9 * mf * m9 + 0.1 * 3 * c.k}, 1e-12);
    expect_values(state_of(opt, b).exp_avg_sq(),
                  {0.999 * vf * v9 + 0.001 * 16 * c.k * c.k}, 1e-12);
    EXPECT_EQ(opt.spam_state().spikes, c.spike ? 1 : 0) << "k " << c.k;
    EXPECT_EQ(opt.spam_state().norms.size(), 10u);
    EXPECT_DOUBLE_EQ(opt.spam_state().norms.back(), 5 * c.k);
  }
}

// With only 9 norms known (8 before it), even a huge norm is not tested.
TEST(AdamWSpam, SpikeTestWaitsForTenNorms) {
  auto p = param({0.0}, torch::kDouble);
  SpamSettings s = spam_off_but(false);
  s.spike_threshold = 2.0;
  AdamFamily opt({OptimizerParamGroup({p})}, AdamFamilyOptions(1e-3), s);
  for (int i = 0; i < 8; ++i) {
    set_grad(p, {i % 2 ? 2.0 : 1.0});
    opt.step();
  }
  set_grad(p, {1000.0});
  opt.step();
  EXPECT_EQ(opt.spam_state().spikes, 0);
  EXPECT_EQ(opt.spam_state().norms.size(), 9u);
}

// Interval 5, warmup 4, constant g = 1, lr 0.1. Steps 5 and 10 zero m and v
// before the update (so m = 0.1, v = 0.001 after it) while Adam's step count
// runs on. The LR factor is 1 on steps 1-4 and 9, then max(1e-3, (1 -
// cos(pi t)) / 2) with t = 0, 1/4, 1/2, 3/4 on steps 5-8: 1e-3, 0.1464466094,
// 0.5, 0.8535533906; step 10 starts over at 1e-3 (not 1e-3 * 1e-3: the group lr
// stays the trainer's 0.1 and is only scaled inside the step).
TEST(AdamWSpam, PeriodicResetAndWarmupWithoutCompounding) {
  SpamSettings s = spam_off_but(false);
  s.interval = 5;
  s.warmup_steps = 4;
  SpamSettings no_warmup = s;
  no_warmup.warmup_steps = 0;
  auto p = param({0.0}, torch::kDouble), q = param({0.0}, torch::kDouble);
  AdamFamily opt({OptimizerParamGroup({p})}, AdamFamilyOptions(0.1).amsgrad(true), s);
  AdamFamily twin({OptimizerParamGroup({q})}, AdamFamilyOptions(0.1).amsgrad(true), no_warmup);
  const double want[] = {1, 1, 1, 1, 1e-3, 0.1464466094, 0.5, 0.8535533906, 1, 1e-3};
  for (int i = 0; i < 10; ++i) {
    const double p0 = p.item<double>(), q0 = q.item<double>();
    set_grad(p, {1.0});
    set_grad(q, {1.0});
    opt.step();
    twin.step();
    EXPECT_NEAR(opt.spam_state().lr_scale, want[i], 1e-10) << "step " << i + 1;
    // Same moments, so the moves differ by exactly the LR factor.
    EXPECT_NEAR((p.item<double>() - p0) / (q.item<double>() - q0), want[i], 1e-9);
    EXPECT_DOUBLE_EQ(opt.param_groups()[0].options().get_lr(), 0.1);
    if (i == 4 || i == 9) {
      expect_values(state_of(opt, p).exp_avg(), {0.1}, 1e-15);
      expect_values(state_of(opt, p).exp_avg_sq(), {0.001}, 1e-15);
      // AMSGrad's max is kept: v of steps 4 and 9, 1 - 0.999^4 and 1 - 0.999^5.
      expect_values(state_of(opt, p).max_exp_avg_sq(), {1 - std::pow(0.999, i == 4 ? 4 : 5)},
                    1e-15);
    }
  }
  EXPECT_EQ(state_of(opt, p).step(), 10);
  EXPECT_EQ(opt.spam_state().step, 10);  // one count per step()
  EXPECT_EQ(opt.spam_state().resets, 2);
}

// Save after 12 steps (resets at 3, 6, 9, 12, warmup running, one spike),
// load into a fresh optimizer over copies of the weights: every state tensor
// and counter is equal, and 3 more steps keep both bit-identical.
TEST(AdamWSpam, StateSurvivesASaveLoadRoundTripBitForBit) {
  SpamSettings s;
  s.theta = 1e4;  // clips only what is 100x above sqrt(v): the spike below stays one
  s.interval = 3;
  s.warmup_steps = 2;
  s.grad_clip = 1.0;
  auto make = [&](std::vector<torch::Tensor> ps) {
    std::vector<OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<torch::Tensor>{ps[0]},
                        std::make_unique<AdamFamilyOptions>(
                            AdamFamilyOptions(0.01).weight_decay(0.1).amsgrad(true)));
    groups.emplace_back(std::vector<torch::Tensor>{ps[1]});
    return knlp::AdamWSpam(groups, AdamFamilyOptions(0.01).amsgrad(true), s);
  };
  torch::manual_seed(5);
  std::vector<torch::Tensor> a = {torch::randn({2, 3}).requires_grad_(),
                                  torch::randn({3}).requires_grad_()};
  auto opt = make(a);
  auto feed = [](std::vector<torch::Tensor>& ps, int step) {
    torch::manual_seed(100 + step);
    const double scale = step == 11 ? 100.0 : 1.0;  // a spike
    for (auto& p : ps) p.mutable_grad() = torch::randn(p.sizes()) * scale;
  };
  for (int i = 0; i < 12; ++i) {
    feed(a, i);
    opt.step();
  }
  ASSERT_EQ(opt.spam_state().resets, 4);
  ASSERT_GE(opt.spam_state().spikes, 1);
  ASSERT_EQ(opt.spam_state().warmup_until, 14);

  std::stringstream buf;
  torch::serialize::OutputArchive out;
  opt.save(out);
  out.save_to(buf);
  std::vector<torch::Tensor> b = {a[0].detach().clone().requires_grad_(),
                                  a[1].detach().clone().requires_grad_()};
  auto loaded = make(b);
  torch::serialize::InputArchive in;
  in.load_from(buf);
  loaded.load(in);

  for (size_t i = 0; i < a.size(); ++i) {
    auto &x = state_of(opt, a[i]), &y = state_of(loaded, b[i]);
    EXPECT_EQ(x.step(), y.step());
    EXPECT_TRUE(torch::equal(x.exp_avg(), y.exp_avg()));
    EXPECT_TRUE(torch::equal(x.exp_avg_sq(), y.exp_avg_sq()));
    EXPECT_TRUE(torch::equal(x.max_exp_avg_sq(), y.max_exp_avg_sq()));
  }
  const auto &x = opt.spam_state(), &y = loaded.spam_state();
  EXPECT_EQ(x.step, y.step);
  EXPECT_EQ(x.norms, y.norms);
  EXPECT_EQ(x.spikes, y.spikes);
  EXPECT_EQ(x.resets, y.resets);
  EXPECT_EQ(x.warmup_until, y.warmup_until);
  EXPECT_EQ(x.lr_scale, y.lr_scale);
  for (int i = 12; i < 15; ++i) {
    feed(a, i);
    feed(b, i);
    opt.step();
    loaded.step();
  }
  EXPECT_TRUE(torch::equal(a[0], b[0]));
  EXPECT_TRUE(torch::equal(a[1], b[1]));
}

// ---------------------------------------------------------------------------
// From .config symbols to a built optimizer.

namespace {

knlp::Config base_config() {
  return knlp::test::tiny_lenet5_config("/nonexistent", "/nonexistent", 1);
}

void set_all(knlp::Config& cfg, std::initializer_list<const char*> lines) {
  for (const char* l : lines) cfg.set(l);
}

void set_adv(knlp::Config& cfg) {
  set_all(cfg, {"ADV_USE_AMSGRAD=y", "ADV_WEIGHT_DECAY=0.01", "ADV_USE_COSINE_ANNEALING=y",
                "ADV_COSINE_ETA_MIN=1e-6", "ADV_GRAD_CLIP_NORM=1.0"});
}

void set_spam(knlp::Config& cfg) {
  set_all(cfg, {"SPAM_THETA=50.0", "SPAM_ENABLE_CLIP=y", "SPAM_SPIKE_THRESHOLD=2.0",
                "SPAM_PERIODIC_RESET=y", "SPAM_INTERVAL=1000", "SPAM_WARMUP=y",
                "SPAM_WARMUP_STEPS=100"});
}

knlp::Config adamwprune_config(const char* base) {
  auto cfg = base_config();
  set_all(cfg, {"OPTIMIZER=adamwprune", "ADAMWPRUNE_BETA1=0.9", "ADAMWPRUNE_BETA2=0.95",
                "ADAMWPRUNE_WEIGHT_DECAY=0.05", "ADAMWPRUNE_AMSGRAD=y"});
  cfg.set(std::string("ADAMWPRUNE_BASE_OPTIMIZER_NAME=") + base);
  set_adv(cfg);
  set_spam(cfg);
  return cfg;
}

std::string error_of(const knlp::Config& cfg) {
  try {
    knlp::resolve(cfg);
  } catch (const knlp::Error& e) {
    return e.line();
  }
  return "";
}

}  // namespace

TEST(OptimConfig, AdamWAdvBringsAmsgradCosineAndClip) {
  auto cfg = base_config();
  cfg.set("OPTIMIZER=adamwadv");
  set_adv(cfg);
  cfg.set("ADV_WEIGHT_DECAY=0.02");
  auto s = knlp::resolve(cfg);
  EXPECT_TRUE(s.optim.amsgrad);
  EXPECT_TRUE(s.optim.decoupled_decay);
  EXPECT_DOUBLE_EQ(s.optim.weight_decay, 0.02);
  EXPECT_FALSE(s.optim.spam.enabled);
  EXPECT_EQ(s.train.lr_schedule, "cosine");
  EXPECT_DOUBLE_EQ(s.train.lr_min, 1e-6);
  EXPECT_DOUBLE_EQ(s.train.grad_clip, 1.0);
  cfg.set("ADV_USE_COSINE_ANNEALING=n");
  cfg.set("ADV_USE_AMSGRAD=n");
  s = knlp::resolve(cfg);
  EXPECT_EQ(s.train.lr_schedule, "constant");
  EXPECT_FALSE(s.optim.amsgrad);
}

// AdamWSpam clips inside its step (after the spike test), not in the trainer.
TEST(OptimConfig, AdamWSpamReadsEverySpamSymbol) {
  auto cfg = base_config();
  cfg.set("OPTIMIZER=adamwspam");
  set_adv(cfg);
  set_spam(cfg);
  set_all(cfg, {"SPAM_THETA=20", "SPAM_SPIKE_THRESHOLD=3", "SPAM_INTERVAL=500",
                "SPAM_WARMUP_STEPS=50", "SPAM_ENABLE_CLIP=n"});
  auto s = knlp::resolve(cfg).optim;
  EXPECT_TRUE(s.spam.enabled);
  EXPECT_FALSE(s.spam.clip);
  EXPECT_DOUBLE_EQ(s.spam.theta, 20);
  EXPECT_DOUBLE_EQ(s.spam.spike_threshold, 3);
  EXPECT_EQ(s.spam.interval, 500);
  EXPECT_EQ(s.spam.warmup_steps, 50);
  EXPECT_DOUBLE_EQ(s.spam.grad_clip, 1.0);
  EXPECT_DOUBLE_EQ(knlp::resolve(cfg).train.grad_clip, 0.0);
  cfg.set("SPAM_WARMUP=n");
  EXPECT_EQ(knlp::resolve(cfg).optim.spam.warmup_steps, 0);
  cfg.set("SPAM_PERIODIC_RESET=n");
  EXPECT_EQ(knlp::resolve(cfg).optim.spam.interval, 0);
  cfg.set("SPAM_THETA=0");
  EXPECT_NE(error_of(cfg).find("CONFIG_SPAM_THETA: 0 must be positive"), std::string::npos)
      << error_of(cfg);
}

TEST(OptimConfig, AdamWPruneTakesItsBaseAndItsOwnKnobs) {
  struct Case {
    const char* base;
    bool decoupled, spam;
    const char* schedule;
    double trainer_clip;
  };
  for (auto c : {Case{"adam", false, false, "constant", 0},
                 Case{"adamw", true, false, "constant", 0},
                 Case{"adamwadv", true, false, "cosine", 1.0},
                 Case{"adamwspam", true, true, "cosine", 0}}) {
    auto s = knlp::resolve(adamwprune_config(c.base));
    EXPECT_EQ(s.optim.base, c.base);
    EXPECT_EQ(s.optim.decoupled_decay, c.decoupled) << c.base;
    EXPECT_EQ(s.optim.spam.enabled, c.spam) << c.base;
    EXPECT_EQ(s.train.lr_schedule, c.schedule) << c.base;
    EXPECT_DOUBLE_EQ(s.train.grad_clip, c.trainer_clip) << c.base;
    EXPECT_DOUBLE_EQ(s.optim.beta2, 0.95);
    EXPECT_DOUBLE_EQ(s.optim.weight_decay, 0.05);
    EXPECT_TRUE(s.optim.amsgrad);
  }
  EXPECT_NE(error_of(adamwprune_config("sgd"))
                .find("CONFIG_ADAMWPRUNE_BASE_OPTIMIZER_NAME: unknown value 'sgd'; accepted: "
                      "adam, adamw, adamwadv, adamwspam"),
            std::string::npos);
}

// Built from the config: the decay group gets AdamWPrune's knobs, biases get no
// decay. With zero gradients one step shows the decay style: the Adam base puts
// wd * w into m (m = 0.1 * 0.05 * w), the AdamW base shrinks w by 1 - lr * wd
// (lr 0.003 in the tiny config) and leaves m at 0.
TEST(OptimConfig, AdamWPruneBuildsItsBaseWithDecayGroups) {
  for (const char* base : {"adam", "adamw"}) {
    const bool coupled = std::string(base) == "adam";
    auto settings = knlp::resolve(adamwprune_config(base)).optim;
    torch::nn::Linear lin(2, 1);
    auto opt = knlp::make_optimizer({{lin->weight}, {lin->bias}}, settings);
    ASSERT_NE(dynamic_cast<knlp::AdamWPrune*>(opt.get()), nullptr);
    auto& g0 = static_cast<AdamFamilyOptions&>(opt->param_groups()[0].options());
    auto& g1 = static_cast<AdamFamilyOptions&>(opt->param_groups()[1].options());
    EXPECT_DOUBLE_EQ(std::get<1>(g0.betas()), 0.95);
    EXPECT_DOUBLE_EQ(g0.weight_decay(), 0.05);
    EXPECT_DOUBLE_EQ(g1.weight_decay(), 0.0);
    EXPECT_TRUE(g0.amsgrad());
    EXPECT_EQ(g0.decoupled(), !coupled);
    const auto w0 = lin->weight.detach().clone();
    for (auto& p : lin->parameters()) p.mutable_grad() = torch::zeros_like(p);
    opt->step();
    auto m = knlp::adam_moments(*opt, lin->weight);
    if (coupled) {
      EXPECT_TRUE(torch::allclose(m.exp_avg, 0.1 * 0.05 * w0, 0, 1e-9));
    } else {
      EXPECT_TRUE(torch::equal(m.exp_avg, torch::zeros_like(w0)));
      EXPECT_TRUE(torch::allclose(lin->weight, w0 * (1 - 0.003 * 0.05), 0, 1e-9));
    }
  }
}

// The pruner reads the live state tensors of every optimizer here.
TEST(OptimConfig, AdamMomentsFindsTheFamilyState) {
  for (const char* name : {"adamwadv", "adamwspam", "adamwprune"}) {
    auto cfg = adamwprune_config("adamwspam");
    cfg.set(std::string("OPTIMIZER=") + name);
    torch::nn::Linear lin(2, 1);
    auto opt = knlp::make_optimizer({{lin->weight}, {lin->bias}}, knlp::resolve(cfg).optim);
    EXPECT_FALSE(knlp::adam_moments(*opt, lin->weight).exp_avg.defined());  // no step yet
    for (auto& p : lin->parameters()) p.mutable_grad() = torch::ones_like(p);
    opt->step();
    auto m = knlp::adam_moments(*opt, lin->weight);
    auto& st = state_of(*opt, lin->weight);
    EXPECT_TRUE(m.exp_avg.is_same(st.exp_avg())) << name;
    EXPECT_TRUE(m.exp_avg_sq.is_same(st.exp_avg_sq())) << name;
    EXPECT_TRUE(m.max_exp_avg_sq.is_same(st.max_exp_avg_sq())) << name;
    EXPECT_TRUE(m.max_exp_avg_sq.defined()) << name;
  }
}

// A whole AdamWSpam run cut twice and resumed equals the uninterrupted one:
// the norm history and counters travel in the checkpoint.
TEST(OptimConfig, AdamWSpamRunResumesBitForBit) {
  const auto root = knlp::test::temp_dir("optim");
  knlp::test::write_tiny_mnist(root / "data", 200, 100);
  auto cfg = knlp::test::tiny_lenet5_config(root / "data", root / "out", 2);
  cfg.set("OPTIMIZER=adamwspam");
  set_adv(cfg);
  set_spam(cfg);
  knlp::RunOptions o;
  o.progress = o.plot = false;
  o.run_dir = root / "straight";
  ASSERT_EQ(knlp::run_training(cfg, o).status, "done");
  o.run_dir = root / "cut";
  o.stop_after_steps = 4;
  knlp::run_training(cfg, o);
  o.resume = true;
  o.stop_after_steps = 7;
  knlp::run_training(knlp::Config(), o);
  o.stop_after_steps = 0;
  ASSERT_EQ(knlp::run_training(knlp::Config(), o).status, "done");
  auto a = nlohmann::json::parse(knlp::read_file(root / "straight" / "metrics.json"));
  auto b = nlohmann::json::parse(knlp::read_file(root / "cut" / "metrics.json"));
  EXPECT_EQ(knlp::test::untimed(a["train"]), knlp::test::untimed(b["train"]));
  ASSERT_EQ(a["eval"].size(), 3u);  // step 0 and two epochs
  EXPECT_EQ(knlp::test::untimed(a["eval"]), knlp::test::untimed(b["eval"]));
  std::filesystem::remove_all(root);
}
