// train/classifier.cpp - the epoch-based trainer of image classifiers.
//
// Each epoch visits the training set in an order drawn from (seed, epoch),
// so resuming mid-epoch replays exactly the batches an uninterrupted run
// would see; augmentation draws from (seed, step) for the same reason.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>

#include "data/data.h"
#include "optim/optim.h"
#include "train/context.h"
#include "util/log.h"

namespace knlp {

namespace {

using Clock = std::chrono::steady_clock;

torch::Generator generator_for(uint64_t seed, uint64_t stream, uint64_t index) {
  // Distinct, reproducible streams: (seed, stream, index) -> one generator seed.
  return at::make_generator<at::CPUGeneratorImpl>(seed * 1000003ULL + stream * 7919ULL + index);
}

struct EvalResult {
  double loss = 0, accuracy = 0;
};

EvalResult evaluate(Model& model, const ImageSet& set, torch::Device device) {
  torch::NoGradGuard no_grad;
  model.eval();
  constexpr int64_t kEvalBatch = 1024;
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < set.size(); i += kEvalBatch) {
    int64_t n = std::min(kEvalBatch, set.size() - i);
    Batch b{set.images.narrow(0, i, n).to(device), set.labels.narrow(0, i, n).to(device)};
    auto out = model.forward(b);
    loss_sum += out.loss.item<double>() * static_cast<double>(n);
    correct += out.logits.argmax(1).eq(b.target).sum().item<int64_t>();
  }
  model.train();
  return {loss_sum / static_cast<double>(set.size()),
          100.0 * static_cast<double>(correct) / static_cast<double>(set.size())};
}

double learning_rate(const TrainSettings& t, double base, int64_t epoch) {
  if (t.lr_schedule == "cosine")
    return t.lr_min + 0.5 * (base - t.lr_min) *
                          (1 + std::cos(M_PI * static_cast<double>(epoch) /
                                        static_cast<double>(t.epochs)));
  return base;
}

// Counters of the epoch in progress; saved in checkpoints so a resumed epoch
// reports the same train loss and accuracy as an uninterrupted one.
struct EpochSums {
  double loss = 0;
  int64_t correct = 0, seen = 0;
  double seconds = 0;
  json to_json() const {
    return {{"loss", loss}, {"correct", correct}, {"seen", seen}, {"seconds", seconds}};
  }
  static EpochSums from_json(const json& j) {
    return {j.value("loss", 0.0), j.value("correct", int64_t{0}), j.value("seen", int64_t{0}),
            j.value("seconds", 0.0)};
  }
};

}  // namespace

std::vector<PrunableParam> prunable_params(torch::nn::Module& model) {
  std::vector<PrunableParam> out;
  for (const auto& item : model.named_modules()) {
    auto* m = item.value().get();
    if (dynamic_cast<torch::nn::LinearImpl*>(m) || dynamic_cast<torch::nn::Conv2dImpl*>(m))
      out.push_back({item.key().empty() ? "weight" : item.key() + ".weight",
                     m->named_parameters(false)["weight"]});
  }
  return out;
}

DryRunInput classifier_dry_run(const RunSettings& settings, int64_t batch_size) {
  const auto shape = image_shape(settings.data);
  DryRunInput in{settings.model, {}};
  in.model.num_classes = shape.num_classes;
  in.model.in_channels = shape.channels;
  in.model.image_size = shape.image_size;
  in.batch = {torch::randn({batch_size, shape.channels, shape.image_size, shape.image_size}),
              torch::randint(0, shape.num_classes, {batch_size}, torch::kLong)};
  return in;
}

RunResult train_classifier(RunContext& ctx) {
  auto& s = ctx.settings;
  const auto& t = s.train;
  torch::manual_seed(t.seed);

  ImageData data = load_images(s.data);
  s.model.num_classes = data.num_classes;
  s.model.in_channels = data.channels;
  s.model.image_size = data.image_size;
  auto model = make_model(s.model);
  model->to(ctx.device);
  auto optimizer = make_optimizer(*model, s.optim);
  const int64_t n = data.train.size();
  const int64_t steps_per_epoch = (n + t.batch_size - 1) / t.batch_size;
  auto pruner = make_pruner(s.prune, prunable_params(*model), steps_per_epoch);
  spdlog::info("{}: {} parameters; {} train / {} test images, {} steps per epoch",
               s.model.name, model->num_params(), n, data.test.size(), steps_per_epoch);
  const bool pruning = s.prune.method != "none";
  const int64_t last_update = steps_per_epoch * t.epochs / s.prune.frequency * s.prune.frequency;
  if (pruning && pruner->target_at(last_update) < s.prune.target_sparsity)
    spdlog::warn("pruning: the last mask update (step {}) reaches {:.1f}%, not the target "
                 "{:.1f}%; end the ramp before the last epoch",
                 last_update, 100 * pruner->target_at(last_update), 100 * s.prune.target_sparsity);

  ctx.start_metrics(data.name, model->num_params(), "test_accuracy", true);
  TrainPosition pos;
  if (auto resumed = load_checkpoint(ctx, *model, *optimizer, *pruner)) pos = *resumed;
  EpochSums sums = EpochSums::from_json(pos.extra.value("epoch_sums", json::object()));
  double best = pos.extra.value("best", -1.0);
  int64_t best_epoch = pos.extra.value("best_epoch", int64_t{0});
  double total_seconds = pos.extra.value("total_seconds", 0.0);

  auto checkpoint = [&](bool is_best) {
    pos.extra = {{"epoch_sums", sums.to_json()},
                 {"best", best},
                 {"best_epoch", best_epoch},
                 {"total_seconds", total_seconds}};
    save_checkpoint(ctx, *model, *optimizer, *pruner, pos, is_best);
  };
  auto moments = [&](const torch::Tensor& w) {
    auto m = adam_moments(*optimizer, w);
    return Moments{m.exp_avg, m.exp_avg_sq, m.max_exp_avg_sq};
  };

  double sparsity = pruner->sparsity();  // measured every 10 steps for the bar
  model->train();
  for (; pos.epoch < t.epochs; ++pos.epoch, pos.batch = 0, sums = {}) {
    const double lr = learning_rate(t, s.optim.lr, pos.epoch);
    set_learning_rate(*optimizer, lr);
    auto gen = generator_for(t.seed, 1, pos.epoch);
    auto order = torch::randperm(n, gen, torch::kLong);
    ProgressBar bar(fmt::format("epoch {}/{}", pos.epoch + 1, t.epochs), steps_per_epoch,
                    ctx.progress);
    for (; pos.batch < steps_per_epoch; ++pos.batch) {
      const auto start = Clock::now();
      auto idx = order.narrow(0, pos.batch * t.batch_size,
                              std::min(t.batch_size, n - pos.batch * t.batch_size));
      auto images = data.train.images.index_select(0, idx);
      if (data.augment) {
        auto aug = generator_for(t.seed, 2, pos.step);
        images = augment_batch(images, aug, data.pad_value);
      }
      Batch batch{images.to(ctx.device), data.train.labels.index_select(0, idx).to(ctx.device)};
      optimizer->zero_grad();
      auto out = model->forward(batch);
      out.loss.backward();
      pruner->mask_gradients();
      if (t.grad_clip > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), t.grad_clip);
      optimizer->step();
      ++pos.step;
      pruner->after_step(pos.step, moments);

      const int64_t bs = idx.size(0);
      const double loss = out.loss.item<double>();
      sums.loss += loss * static_cast<double>(bs);
      sums.correct += out.logits.argmax(1).eq(batch.target).sum().item<int64_t>();
      sums.seen += bs;
      const double dt = std::chrono::duration<double>(Clock::now() - start).count();
      sums.seconds += dt;
      total_seconds += dt;
      if (pos.step % 10 == 0) {
        json entry = {{"step", pos.step}, {"loss", loss}, {"lr", lr}};
        if (pruning) entry["sparsity"] = sparsity = pruner->sparsity();
        ctx.metrics["train"].push_back(entry);
      }
      bar.update(pos.batch + 1,
                 fmt::format("loss {:.4f} acc {:.1f}% {}{:.0f} img/s", sums.loss / sums.seen,
                             100.0 * sums.correct / sums.seen,
                             pruning ? fmt::format("sparsity {:.1f}% ", 100 * sparsity) : "",
                             sums.seen / sums.seconds));
      const bool stop = ctx.should_stop(pos.step);
      if (stop || (t.checkpoint_interval > 0 && pos.step % t.checkpoint_interval == 0 &&
                   pos.batch + 1 < steps_per_epoch)) {
        ++pos.batch;  // the checkpoint resumes after this batch
        checkpoint(false);
        --pos.batch;
      }
      if (stop) {
        bar.finish();
        spdlog::warn("interrupted at step {}; resume with: knlp run --resume {}", pos.step,
                     ctx.dir.string());
        ctx.write_metrics();
        return {ctx.dir, fmt::format("failed: interrupted at step {}", pos.step), best, 0};
      }
    }
    bar.finish();

    const auto test = evaluate(*model, data.test, ctx.device);
    sparsity = pruner->sparsity();
    const bool is_best = test.accuracy > best;
    if (is_best) best = test.accuracy, best_epoch = pos.epoch + 1;
    ctx.metrics["eval"].push_back({{"epoch", pos.epoch + 1},
                                   {"step", pos.step},
                                   {"train_loss", sums.loss / sums.seen},
                                   {"train_accuracy", 100.0 * sums.correct / sums.seen},
                                   {"test_loss", test.loss},
                                   {"test_accuracy", test.accuracy},
                                   {"sparsity", sparsity},
                                   {"target_sparsity", pruner->target_at(pos.step)},
                                   {"lr", lr},
                                   {"epoch_time_s", sums.seconds},
                                   {"samples_per_s", sums.seen / sums.seconds}});
    spdlog::info("epoch {}/{}: train loss {:.4f} acc {:.2f}% | test loss {:.4f} acc {:.2f}% | "
                 "sparsity {:.1f}% (target {:.1f}%) | {:.1f} s, {:.0f} img/s",
                 pos.epoch + 1, t.epochs, sums.loss / sums.seen, 100.0 * sums.correct / sums.seen,
                 test.loss, test.accuracy, 100 * sparsity, 100 * pruner->target_at(pos.step),
                 sums.seconds,
                 sums.seen / sums.seconds);
    ctx.metrics["summary"] = {{"status", "running"},
                              {"epochs_done", pos.epoch + 1},
                              {"steps", pos.step},
                              {"best", best},
                              {"best_epoch", best_epoch},
                              {"final", test.accuracy},
                              {"final_sparsity", sparsity},
                              {"total_time_s", total_seconds},
                              {"peak_rss_mib", peak_rss_mib()}};
    ctx.write_metrics();
    ++pos.epoch, pos.batch = 0, sums = {};
    checkpoint(is_best);
    --pos.epoch;
  }
  const double final_acc = ctx.metrics["summary"]["final"];
  ctx.metrics["summary"]["status"] = "done";
  ctx.write_metrics();
  spdlog::info("done: {} in {}: best test accuracy {:.2f}% (epoch {}), final {:.2f}%, "
               "sparsity {:.1f}% -> {}",
               run_name(s), format_duration(total_seconds), best, best_epoch, final_acc,
               100 * pruner->sparsity(), ctx.dir.string());
  return {ctx.dir, "done", best, final_acc};
}

}  // namespace knlp
