// Pruning: every score on a 2x3 tensor by hand, the schedules, the exact threshold,
// bitter4's per-layer counts, and masks that stay applied through AdamW steps.
#include <gtest/gtest.h>

#include <limits>

#include "optim/optim.h"
#include "prune/prune.h"
#include "util/check.h"

namespace {

// w, m = exp_avg, v = exp_avg_sq chosen so that sqrt(v) and v^(1/4) are exact.
knlp::ScoreInput hand_input() {
  knlp::ScoreInput in;
  in.w = torch::tensor({{1.0, -2.0, 0.5}, {-1.0, 3.0, -0.25}});
  in.exp_avg = torch::tensor({{4.0, -1.0, 0.25}, {1.0, -9.0, 0.0}});
  in.exp_avg_sq = torch::tensor({{16.0, 1.0, 0.0625}, {81.0, 1.0, 16.0}});
  return in;
}

// eps = 1e-8 moves the hand values by at most a few 1e-8 relative, except where
// it is the whole term (sqrt(|0| + 1e-8) = 1e-4).
void expect_scores(const char* name, const knlp::ScoreInput& in,
                   std::vector<double> expected) {
  auto got = knlp::prune_score(name, in).reshape({-1});
  ASSERT_EQ(got.numel(), static_cast<int64_t>(expected.size())) << name;
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(got[i].item<double>(), expected[i], 1e-6 * (1 + std::abs(expected[i])))
        << name << " element " << i;
}

std::vector<knlp::PrunableParam> params_of(std::vector<torch::Tensor> ws) {
  std::vector<knlp::PrunableParam> out;
  for (size_t i = 0; i < ws.size(); ++i)
    out.push_back({"layer" + std::to_string(i) + ".weight", ws[i].requires_grad_()});
  return out;
}

int64_t zeros(const torch::Tensor& t) { return (t == 0).sum().item<int64_t>(); }

const knlp::MomentsLookup kNoMoments = [](const torch::Tensor&) { return knlp::Moments{}; };

// Prunes to `target` at the first step: no warmup, a ramp of one step.
knlp::PruneSettings at_once(const char* method, double target) {
  knlp::PruneSettings s;
  s.method = method;
  s.target_sparsity = target;
  s.warmup_steps = 0;
  s.frequency = 1;
  s.ramp_end_step = 1;
  return s;
}

}  // namespace

TEST(PruneScores, EachScoreByHand) {
  auto in = hand_input();
  expect_scores("magnitude", in, {1, 2, 0.5, 1, 3, 0.25});
  // w^2 |m| / sqrt(v)
  expect_scores("bitter0", in, {1, 4, 0.25, 1.0 / 9, 81, 0});
  expect_scores("bitter1", in, {1, 2, 0.5, 1, 3, 0.25});
  expect_scores("bitter2", in, {1, 2, 0.5, 1, 3, 0.25});
  // |w| sqrt(|m|); the last m is 0, so sqrt(1e-8) = 1e-4 remains
  expect_scores("bitter3", in, {2, 2, 0.25, 1, 9, 0.25e-4});
  expect_scores("bitter4", in, {2, 2, 0.25, 1, 9, 0.25e-4});
  // -sign(w) m / sqrt(v) + 0.1 |w|
  expect_scores("bitter5", in, {-0.9, -0.8, -0.95, 1.0 / 9 + 0.1, 9.3, 0.025});
  // bitter3 * |m| / sqrt(v)
  expect_scores("bitter6", in, {2, 2, 0.25, 1.0 / 9, 81, 0});
  // |w| v^(1/4)
  expect_scores("bitter7", in, {2, 2, 0.25, 3, 3, 0.5});
  in.c = 2.5;  // c bitter3
  expect_scores("bitter8", in, {5, 5, 0.625, 2.5, 22.5, 0.625e-4});
  in.c = 3.0;  // c |w| v^(1/4)
  expect_scores("bitter9", in, {6, 6, 0.75, 9, 9, 1.5});
}

TEST(PruneScores, MovementNeedsTheInitialWeights) {
  auto in = hand_input();
  EXPECT_THROW(knlp::prune_score("movement", in), knlp::Error);
  in.w0 = torch::tensor({{0.5, -2.0, 1.0}, {1.0, 1.0, -0.25}});
  // w (w - w0): moving toward zero scores below zero
  expect_scores("movement", in, {0.5, 0, -0.25, 2, 6, 0});
}

TEST(PruneScores, StateScoresFallBackToMagnitudeWithoutMoments) {
  knlp::ScoreInput in;
  in.w = torch::tensor({-3.0, 0.5});
  for (const auto& name : knlp::scorer_names(/*state_only=*/true))
    expect_scores(name.c_str(), in, {3, 0.5});
  EXPECT_THROW(knlp::prune_score("bitter10", in), knlp::Error);
}

TEST(PruneScores, StructuralWeightsGoByDeclaredClass) {
  knlp::StructuralWeights c;
  c.other = 0.5;
  EXPECT_EQ(c.of(knlp::ParamClass::kAttention), 2.5);
  EXPECT_EQ(c.of(knlp::ParamClass::kMlp), 1.0);
  EXPECT_EQ(c.of(knlp::ParamClass::kCoupling), 3.0);
  EXPECT_EQ(c.of(knlp::ParamClass::kOther), 0.5);
}

TEST(PruneSchedule, EachShapeAtZeroHalfAndOne) {
  const struct {
    const char* shape;
    double at_half;
  } cases[] = {{"cubic", 0.125}, {"zhu-gupta", 0.875}, {"linear", 0.5}};
  for (const auto& c : cases) {
    EXPECT_DOUBLE_EQ(knlp::schedule_fraction(c.shape, 0.0), 0.0) << c.shape;
    EXPECT_DOUBLE_EQ(knlp::schedule_fraction(c.shape, 0.5), c.at_half) << c.shape;
    EXPECT_DOUBLE_EQ(knlp::schedule_fraction(c.shape, 1.0), 1.0) << c.shape;
  }
  EXPECT_THROW(knlp::schedule_fraction("quadratic", 0.5), knlp::Error);
}

TEST(PruneSchedule, WarmupRampAndHold) {
  knlp::PruneSettings s;
  s.target_sparsity = 0.8;
  s.warmup_steps = 10;
  s.schedule = "cubic";
  const int64_t ramp_end = 30;
  EXPECT_EQ(knlp::scheduled_sparsity(s, ramp_end, 0), 0.0);
  EXPECT_EQ(knlp::scheduled_sparsity(s, ramp_end, 10), 0.0);                // still warming up
  EXPECT_DOUBLE_EQ(knlp::scheduled_sparsity(s, ramp_end, 20), 0.8 * 0.125);  // p = 0.5
  EXPECT_DOUBLE_EQ(knlp::scheduled_sparsity(s, ramp_end, 30), 0.8);
  EXPECT_DOUBLE_EQ(knlp::scheduled_sparsity(s, ramp_end, 1000), 0.8);       // held
  s.schedule = "zhu-gupta";
  EXPECT_DOUBLE_EQ(knlp::scheduled_sparsity(s, ramp_end, 20), 0.8 * 0.875);
}

TEST(PruneThreshold, PrunesExactlyKBreakingTiesByPosition) {
  auto a = torch::tensor({3.0, 1.0, 2.0, 1.0}), b = torch::tensor({1.0, 0.0});
  // Sorted: 0 (b1), then the three 1s: a1, a3 come before b0 -> k = 3 prunes b1, a1, a3.
  auto keep = knlp::prune_lowest({a, b}, 3);
  EXPECT_TRUE(keep[0].equal(torch::tensor({true, false, true, false})));
  EXPECT_TRUE(keep[1].equal(torch::tensor({true, false})));
  EXPECT_TRUE(knlp::prune_lowest({a, b}, 0)[0].all().item<bool>());
  EXPECT_FALSE(knlp::prune_lowest({a, b}, 6)[1].any().item<bool>());
}

TEST(PruneThreshold, GlobalCountIsExactEvenWithManyTies) {
  torch::manual_seed(1);
  // ties everywhere, negative scores, and -inf (what pruned weights score)
  std::vector<torch::Tensor> scores = {torch::randint(-2, 2, {7, 9}).to(torch::kFloat),
                                       torch::randint(-2, 2, {50}).to(torch::kFloat) / 3,
                                       torch::randint(-2, 2, {3, 2, 2}).to(torch::kFloat)};
  scores[1].narrow(0, 10, 5).fill_(-std::numeric_limits<float>::infinity());
  for (int64_t k : {1, 5, 17, 60, 99, 125}) {
    auto keep = knlp::prune_lowest(scores, k);
    int64_t pruned = 0;
    for (const auto& m : keep) pruned += m.numel() - m.sum().item<int64_t>();
    EXPECT_EQ(pruned, k);
    // nothing kept scores below anything pruned
    double max_pruned = -INFINITY, min_kept = INFINITY;
    for (size_t i = 0; i < keep.size(); ++i) {
      auto pruned = scores[i].masked_select(keep[i].logical_not());
      auto kept = scores[i].masked_select(keep[i]);
      if (pruned.numel()) max_pruned = std::max(max_pruned, pruned.max().item<double>());
      if (kept.numel()) min_kept = std::min(min_kept, kept.min().item<double>());
    }
    EXPECT_LE(max_pruned, min_kept) << "k " << k;
  }
  // floor(s N) without floating-point surprises: 0.7 * 61470 is 43028.99999999999...
  EXPECT_EQ(knlp::prune_count(0.7, 61470), 43029);
  EXPECT_EQ(knlp::prune_count(0.5, 7), 3);
}

TEST(PruneThreshold, ExactEvenWhenTheBracketingSampleMisleads) {
  // 40,000 scores: the bracket samples every 2nd, which here are all large.
  auto x = torch::arange(40000, torch::kFloat);
  x.slice(0, 0, 40000, 2).add_(100000);
  auto keep = knlp::prune_lowest({x.narrow(0, 0, 15000), x.narrow(0, 15000, 25000)}, 10000);
  // The 10,000 lowest are the odd positions 1, 3, ..., 19999.
  EXPECT_TRUE(torch::cat(keep).equal(x > 19999));
  // and a bracket that holds: random scores, k in the middle
  auto r = torch::randn({50000});
  auto keep_r = knlp::prune_lowest({r}, 31234)[0];
  EXPECT_EQ(50000 - keep_r.sum().item<int64_t>(), 31234);
  EXPECT_LE(r.masked_select(~keep_r).max().item<float>(), r.masked_select(keep_r).min().item<float>());
}

TEST(PruneThreshold, SampledEstimateIsClose) {
  torch::manual_seed(2);
  auto scores = torch::rand({10000});
  auto keep = knlp::prune_lowest_sampled({scores}, 5000, 0.02);
  const int64_t pruned = 10000 - keep[0].sum().item<int64_t>();
  // 200 samples: the median estimate has a standard deviation of about 3.5 %.
  EXPECT_NEAR(pruned, 5000, 700);
  EXPECT_NE(pruned, 10000);
}

// The exact threshold is the k-th smallest of all scores, as kthvalue over
// their concatenation finds it: on smooth scores, heavy tails, many ties and a
// mass of equal scores that makes the sample's bracket miss.
TEST(Pruner, ExactThresholdEqualsKthvalue) {
  torch::manual_seed(11);
  const std::vector<std::pair<const char*, std::vector<torch::Tensor>>> cases = {
      {"normal", {torch::randn({1000}), torch::randn({30000}), torch::randn({7})}},
      {"heavy tails", {(5 * torch::randn({40000})).exp(), torch::randn({100}).exp()}},
      {"ties", {torch::randint(0, 20, {25000}).to(torch::kFloat), torch::zeros({300})}},
      {"mostly equal", {torch::cat({torch::zeros({30000}), torch::rand({2000})})}},
  };
  for (const auto& [name, scores] : cases) {
    const auto all = torch::cat(scores);
    const int64_t n = all.numel();
    for (int64_t k : {int64_t{1}, n / 3, n / 2, n - 1, n}) {
      const auto keep = knlp::prune_lowest(scores, k);
      const float kth = std::get<0>(all.kthvalue(k)).item<float>();
      int64_t pruned = 0;
      for (size_t i = 0; i < scores.size(); ++i) {
        pruned += keep[i].logical_not().sum().item<int64_t>();
        auto gone = scores[i].masked_select(keep[i].logical_not());
        auto kept = scores[i].masked_select(keep[i]);
        if (gone.numel()) EXPECT_LE(gone.max().item<float>(), kth) << name << " k " << k;
        if (kept.numel()) EXPECT_GE(kept.min().item<float>(), kth) << name << " k " << k;
      }
      EXPECT_EQ(pruned, k) << name;
    }
  }
}

// The sampled estimate (PRUNING_THRESHOLD_SAMPLED) against the exact count: on
// a million scores at the default 2 % sample its error stays within 1 % of N.
TEST(Pruner, SampledThresholdErrorAgainstExact) {
  const int64_t n = 1000000, k = n / 2;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    torch::manual_seed(seed);
    auto scores = torch::randn({n}).abs();
    const auto keep = knlp::prune_lowest_sampled({scores}, k, 0.02);
    const double err = static_cast<double>(n - keep[0].sum().item<int64_t>() - k) / n;
    EXPECT_LT(std::abs(err), 0.01) << "seed " << seed << ": " << 100 * err << " % of N";
    RecordProperty("error_percent_seed" + std::to_string(seed), std::to_string(100 * err));
  }
}

TEST(Pruner, GlobalThresholdHitsTheTargetCountExactly) {
  torch::manual_seed(3);
  auto pruner = knlp::make_pruner(at_once("magnitude", 0.5),
                                  params_of({torch::randn({2, 5}), torch::randn({4, 3}),
                                             torch::randn({7})}));
  pruner->after_step(1, kNoMoments);
  int64_t z = 0;
  for (const auto& p : pruner->params()) z += zeros(p.weight);
  EXPECT_EQ(z, 14);  // floor(0.5 * 29)
  EXPECT_DOUBLE_EQ(pruner->sparsity(), 14.0 / 29);
  // The masks are bool buffers, one byte per weight and nothing else.
  int64_t bytes = 0;
  for (const auto& b : pruner->named_buffers()) {
    EXPECT_EQ(b.value().scalar_type(), torch::kBool) << b.key();
    bytes += b.value().nbytes();
  }
  EXPECT_EQ(bytes, 29);
}

TEST(Pruner, Bitter4PrunesEachLayerToItsOwnShare) {
  torch::manual_seed(4);
  auto s = at_once("state", 0.5);
  s.variant = "bitter4";
  auto pruner = knlp::make_pruner(
      s, params_of({torch::randn({10}), torch::randn({10}), torch::randn({10})}));
  pruner->after_step(1, kNoMoments);
  // factors 0.7, 1.0, 1.3: shares 0.35, 0.5, 0.65 of 10 weights each
  EXPECT_EQ(zeros(pruner->params()[0].weight), 3);
  EXPECT_EQ(zeros(pruner->params()[1].weight), 5);
  EXPECT_EQ(zeros(pruner->params()[2].weight), 6);
  EXPECT_DOUBLE_EQ(pruner->overall_sparsity(0.5), 14.0 / 30);  // not 0.5
  EXPECT_DOUBLE_EQ(knlp::layer_sparsity(0.5, 1, 3), 0.5);
  EXPECT_DOUBLE_EQ(knlp::layer_sparsity(0.9, 2, 3), 0.95);  // capped
}

TEST(Pruner, MovementPrunesWhatMovedTowardZero) {
  auto w = torch::tensor({0.1, 1.0, -3.0, -1.0});
  auto pruner = knlp::make_pruner(at_once("movement", 0.5), params_of({w}));
  {
    torch::NoGradGuard g;
    w.copy_(torch::tensor({0.4, 0.5, -2.0, -3.0}));  // training moved the weights
  }
  pruner->after_step(1, kNoMoments);
  // w (w - w0) = 0.12, -0.25, -2, 6: the two lowest go, although |w| = 2 is large.
  EXPECT_TRUE(w.equal(torch::tensor({0.4, 0.0, 0.0, -3.0})));
  int64_t bytes = 0;
  for (const auto& b : pruner->buffers()) bytes += b.nbytes();
  EXPECT_EQ(bytes, 4 * 1 + 4 * 4);  // the mask and the fp32 initial weights
}

TEST(Pruner, APrunedWeightNeverComesBack) {
  auto w = torch::tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0});
  auto s = at_once("movement", 0.5);
  s.schedule = "linear";
  s.ramp_end_step = 2;  // step 1: 25 % (1 weight), step 2: 50 % (3 weights)
  auto pruner = knlp::make_pruner(s, params_of({w}));
  {
    torch::NoGradGuard g;
    w.copy_(torch::tensor({1.5, 2.5, 3.5, 0.5, 5.5, 6.5}));  // only w3 moved toward zero
  }
  pruner->after_step(1, kNoMoments);
  EXPECT_TRUE(w.equal(torch::tensor({1.5, 2.5, 3.5, 0.0, 5.5, 6.5})));
  {
    torch::NoGradGuard g;
    w.sub_(torch::tensor({1.0, 1.0, 1.0, 0.0, 0.5, 0.5}));  // w0..w2 move toward zero
  }
  pruner->after_step(2, kNoMoments);
  // Scores -0.25, -0.75, -1.25, 0 (w3, pruned), 0, 0: w3 would rank fourth, yet it
  // stays pruned and exactly two more go, the lowest: w2 and w1.
  EXPECT_TRUE(w.equal(torch::tensor({0.5, 0.0, 0.0, 0.0, 5.0, 6.0})));
}

TEST(Pruner, MasksStayAppliedThroughAdamWSteps) {
  torch::manual_seed(5);
  torch::nn::Linear lin(6, 4);
  knlp::OptimSettings o;
  o.lr = 0.05;
  o.weight_decay = 0.1;
  auto opt = knlp::make_optimizer({{lin->weight}, {lin->bias}}, o);
  auto s = at_once("state", 0.5);
  s.variant = "bitter7";
  s.warmup_steps = 2;
  s.frequency = 2;
  s.ramp_end_step = 4;
  auto pruner = knlp::make_pruner(s, {{"weight", lin->weight}});
  knlp::MomentsLookup moments = [&](const torch::Tensor& p) {
    auto m = knlp::adam_moments(*opt, p);
    return knlp::Moments{m.exp_avg, m.exp_avg_sq, m.max_exp_avg_sq};
  };
  auto x = torch::randn({8, 6});
  torch::Tensor pruned;  // positions pruned so far
  for (int64_t step = 1; step <= 8; ++step) {
    opt->zero_grad();
    lin(x).square().mean().backward();
    pruner->mask_gradients();
    if (pruned.defined()) {
      EXPECT_EQ(lin->weight.grad().masked_select(pruned).abs().sum().item<double>(), 0.0);
    }
    opt->step();
    pruner->after_step(step, moments);
    // ramp: warmup 2, end 4: 0 through step 2, 0.5 from step 4 on
    const int64_t expected = step < 4 ? 0 : 12;
    auto now = lin->weight == 0;
    EXPECT_EQ(now.sum().item<int64_t>(), expected) << "step " << step;
    if (pruned.defined()) {
      EXPECT_TRUE(now.masked_select(pruned).all().item<bool>()) << "step " << step;
    }
    auto m = moments(lin->weight);
    EXPECT_EQ(m.exp_avg.masked_select(now).abs().sum().item<double>(), 0.0);
    EXPECT_EQ(m.exp_avg_sq.masked_select(now).abs().sum().item<double>(), 0.0);
    pruned = now.clone();
  }
}

TEST(Pruner, MasksRoundTripThroughACheckpoint) {
  torch::manual_seed(6);
  auto w = torch::randn({5, 5});
  auto a = knlp::make_pruner(at_once("magnitude", 0.6), params_of({w}));
  a->after_step(1, kNoMoments);
  torch::serialize::OutputArchive out;
  a->save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  auto w2 = torch::randn({5, 5});
  auto b = knlp::make_pruner(at_once("magnitude", 0.6), params_of({w2}));
  torch::serialize::InputArchive in;
  std::istringstream is(bytes.str());
  in.load_from(is);
  b->load(in);
  b->after_step(2, kNoMoments);  // re-applies a's mask (and prunes nothing new: already 15)
  EXPECT_TRUE((w2 == 0).equal(w == 0));
}

TEST(Pruner, UnknownNamesListWhatIsAccepted) {
  auto s = at_once("lottery", 0.5);
  try {
    knlp::make_pruner(s, params_of({torch::randn({4})}));
    FAIL() << "no error";
  } catch (const knlp::Error& e) {
    EXPECT_NE(e.line().find("accepted: none, magnitude, movement, state"), std::string::npos)
        << e.line();
  }
  s.method = "state";
  s.variant = "magnitude";  // a score, but not an AdamWPrune variant
  EXPECT_THROW(knlp::make_pruner(s, params_of({torch::randn({4})})), knlp::Error);
  s.variant = "bitter7";
  s.schedule = "exponential";
  EXPECT_THROW(knlp::make_pruner(s, params_of({torch::randn({4})})), knlp::Error);
}
