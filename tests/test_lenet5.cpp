// LeNet-5: shapes, the reference's parameter count, and that it learns.
#include <gtest/gtest.h>

#include "models/models.h"
#include "optim/optim.h"
#include "train/context.h"  // param_groups, prunable_params

namespace {

knlp::ModelSettings lenet5() {
  knlp::ModelSettings s;
  s.name = "lenet5";
  return s;
}

}  // namespace

TEST(LeNet5, ShapesAndParameterCount) {
  torch::manual_seed(0);
  auto model = knlp::make_model(lenet5());
  auto out = model->forward({torch::randn({3, 1, 32, 32}), torch::tensor({1, 2, 3})});
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{3, 10}));
  EXPECT_EQ(out.loss.dim(), 0);
  // conv 156 + bn 12 + conv 2416 + bn 32 + fc 48120 + 10164 + 850 (reference: 61,750).
  EXPECT_EQ(model->num_params(), 61750);
}

TEST(LeNet5, AFewStepsOnOneBatchLowerTheLoss) {
  torch::manual_seed(0);
  auto model = knlp::make_model(lenet5());
  knlp::OptimSettings o;
  o.lr = 1e-2;
  auto opt = knlp::make_optimizer(knlp::param_groups(*model), o);
  knlp::Batch b{torch::randn({16, 1, 32, 32}), torch::randint(0, 10, {16}, torch::kLong)};
  double first = 0, last = 0;
  for (int i = 0; i < 20; ++i) {
    opt->zero_grad();
    auto loss = model->forward(b).loss;
    loss.backward();
    opt->step();
    (i == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, 0.5 * first);
}

TEST(Optim, BiasesAndNormsGetNoWeightDecay) {
  auto model = knlp::make_model(lenet5());
  auto g = knlp::param_groups(*model);
  // Decay: 5 weights (2 conv, 3 linear). No decay: 5 biases + 2 BN (weight, bias).
  EXPECT_EQ(g.decay.size(), 5u);
  EXPECT_EQ(g.no_decay.size(), 9u);
  for (const auto& p : g.decay) EXPECT_GE(p.dim(), 2);
  // The same five weights are the prunable ones, all of class other.
  const auto prunable = knlp::prunable_params(*model);
  ASSERT_EQ(prunable.size(), 5u);
  for (size_t i = 0; i < prunable.size(); ++i) {
    EXPECT_TRUE(prunable[i].weight.is_same(g.decay[i])) << prunable[i].name;
    EXPECT_EQ(prunable[i].cls, knlp::ParamClass::kOther);
  }
  knlp::OptimSettings o;
  o.name = "sgd";
  o.weight_decay = 0.5;
  auto opt = knlp::make_optimizer(g, o);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  auto& wd1 = static_cast<torch::optim::SGDOptions&>(opt->param_groups()[1].options());
  auto& wd0 = static_cast<torch::optim::SGDOptions&>(opt->param_groups()[0].options());
  EXPECT_EQ(wd0.weight_decay(), 0.5);
  EXPECT_EQ(wd1.weight_decay(), 0.0);
  o.name = "lion";
  EXPECT_THROW(knlp::make_optimizer(g, o), std::exception);
}
