// train/image_task.cpp - image classification: batches, cross-entropy, accuracy.
//
// VALIDATION_IMAGES images of the training set, drawn by the seed, are held
// out as the validation split; the rest is the training split. Epoch e visits
// the training split in an order drawn from (seed, e) and step s augments with
// (seed, s), so batch (s, 0) is a pure function of s: epoch s / steps_per_epoch,
// batch s % steps_per_epoch.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "data/data.h"
#include "train/task.h"
#include "util/check.h"

namespace knlp {

namespace {

ImageSet subset(const ImageSet& set, const torch::Tensor& idx) {
  return {set.images.index_select(0, idx), set.labels.index_select(0, idx)};
}

class ImageTask : public Task {
 public:
  ImageTask(RunSettings& s, torch::Device device) : device_(device), seed_(s.train.seed) {
    ImageData data = load_images(s.data);
    const auto split = hold_out(data.train.size(), s.train.validation_images, seed_);
    train_ = subset(data.train, split.train);
    validation_ = subset(data.train, split.validation);
    test_ = std::move(data.test);
    name_ = data.name;
    augment_ = data.augment;
    pad_value_ = data.pad_value;
    batch_ = s.train.batch_size;
    eval_batch_ = s.train.eval_batch_size;
    steps_per_epoch_ = (train_.size() + batch_ - 1) / batch_;
    s.model.num_classes = data.num_classes;
    s.model.in_channels = data.channels;
    s.model.image_size = data.image_size;
    s.train.max_steps = s.train.epochs * steps_per_epoch_;
  }

  std::string metric() const override { return "accuracy"; }
  bool higher_is_better() const override { return true; }
  std::string unit() const override { return "images"; }
  int64_t samples_per_micro_batch() const override { return batch_; }
  int64_t steps_per_epoch() const override { return steps_per_epoch_; }
  int64_t eval_interval() const override { return steps_per_epoch_; }
  bool has_test_split() const override { return true; }

  Batch train_batch(int64_t step, int64_t micro) override {
    (void)micro;  // one micro-batch per step
    const int64_t epoch = step / steps_per_epoch_, b = step % steps_per_epoch_;
    if (epoch != order_epoch_) {
      auto gen = stream_generator(seed_, kEpochOrder, static_cast<uint64_t>(epoch));
      order_ = torch::randperm(train_.size(), gen, torch::kLong);
      order_epoch_ = epoch;
    }
    auto idx = order_.narrow(0, b * batch_, std::min(batch_, train_.size() - b * batch_));
    auto images = train_.images.index_select(0, idx);
    if (augment_) {
      auto gen = stream_generator(seed_, kAugment, static_cast<uint64_t>(step));
      images = augment_batch(images, gen, pad_value_);
    }
    return {images.to(device_), train_.labels.index_select(0, idx).to(device_)};
  }

  double train_metric_sum(const ModelOutput& out, const Batch& batch) override {
    return static_cast<double>(out.logits.argmax(1).eq(batch.target).sum().item<int64_t>());
  }
  double metric_of(double mean_loss, double correct, int64_t samples) const override {
    (void)mean_loss;
    return 100.0 * correct / static_cast<double>(samples);
  }

  Evaluation validate(Model& model) override { return evaluate(model, validation_); }
  Evaluation test(Model& model) override { return evaluate(model, test_); }

  void describe(Model& model, nlohmann::json& metrics) override {
    spdlog::info("{}: {} parameters; {} train / {} validation / {} test images, {} steps per "
                 "epoch",
                 metrics["model"].get<std::string>(), model.num_params(), train_.size(),
                 validation_.size(), test_.size(), steps_per_epoch_);
    metrics["dataset"] = name_;
    metrics["data"] = {{"train_images", train_.size()},
                       {"validation_images", validation_.size()},
                       {"test_images", test_.size()}};
  }

 private:
  Evaluation evaluate(Model& model, const ImageSet& set) {
    torch::NoGradGuard no_grad;
    model.eval();
    double loss_sum = 0;
    int64_t correct = 0;
    for (int64_t i = 0; i < set.size(); i += eval_batch_) {
      const int64_t n = std::min(eval_batch_, set.size() - i);
      Batch b{set.images.narrow(0, i, n).to(device_), set.labels.narrow(0, i, n).to(device_)};
      auto out = model.forward(b);
      loss_sum += out.loss.item<double>() * static_cast<double>(n);
      correct += out.logits.argmax(1).eq(b.target).sum().item<int64_t>();
    }
    model.train();
    const double n = static_cast<double>(set.size());
    return {loss_sum / n, 100.0 * static_cast<double>(correct) / n};
  }

  torch::Device device_;
  uint64_t seed_;
  ImageSet train_, validation_, test_;
  std::string name_;
  bool augment_ = false;
  torch::Tensor pad_value_;
  int64_t batch_ = 0, eval_batch_ = 0, steps_per_epoch_ = 0;
  torch::Tensor order_;        // the order of epoch order_epoch_
  int64_t order_epoch_ = -1;
};

}  // namespace

ImageSplit hold_out(int64_t size, int64_t n, uint64_t seed) {
  KNLP_CHECK_INPUT(n < size, "CONFIG_VALIDATION_IMAGES",
                   "{} images held out leave none of the {} training images to train on; "
                   "accepted: 1..{}",
                   n, size, size - 1);
  auto gen = stream_generator(seed, kSplit, 0);
  auto order = torch::randperm(size, gen, torch::kLong);
  return {std::get<0>(order.narrow(0, n, size - n).sort()),
          std::get<0>(order.narrow(0, 0, n).sort())};
}

std::unique_ptr<Task> make_image_task(RunSettings& settings, torch::Device device) {
  return std::make_unique<ImageTask>(settings, device);
}

DryRunInput image_dry_run(const RunSettings& settings, int64_t batch_size) {
  const auto shape = image_shape(settings.data);
  DryRunInput in{settings.model, {}};
  in.model.num_classes = shape.num_classes;
  in.model.in_channels = shape.channels;
  in.model.image_size = shape.image_size;
  in.batch = {torch::randn({batch_size, shape.channels, shape.image_size, shape.image_size}),
              torch::randint(0, shape.num_classes, {batch_size}, torch::kLong)};
  return in;
}

}  // namespace knlp
