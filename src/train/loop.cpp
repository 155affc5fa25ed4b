// train/loop.cpp - the one training loop every model runs through.
//
// nanoGPT's train.py loop, in optimizer steps for every task: set the learning
// rate of step s (a pure function of s: linear warmup, then constant or a half
// cosine to its floor at the last step), accumulate gradients over the task's
// micro-batches, mask the gradients of pruned weights, clip the global norm
// (unless the optimizer's SPAM clips after its own spike test), step, let the
// pruner update and re-apply its masks. Every eval_interval steps, and before
// the first and after the last, the task validates; a better validation metric
// makes the checkpoint `best` and, where the task has one, evaluates the test
// split for it. The test split is never selected on.
//
// Batches are a pure function of (seed, step, micro-batch), so a resumed run
// reads exactly the batches an uninterrupted one would; the CPU generator
// (dropout) is checkpointed.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "optim/optim.h"
#include "train/context.h"
#include "train/task.h"
#include "util/check.h"
#include "util/log.h"

namespace knlp {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Sums over a stretch of steps: since the last train point, or the last evaluation.
struct Sums {
  double loss = 0, metric = 0, seconds = 0;
  int64_t steps = 0, samples = 0;
  double lr = 0, grad_norm = 0;  // of the latest step
  void add(const Sums& step) {
    loss += step.loss, metric += step.metric, seconds += step.seconds;
    steps += step.steps, samples += step.samples;
    lr = step.lr, grad_norm = step.grad_norm;
  }
  double mean_loss() const { return loss / static_cast<double>(steps); }
  json to_json() const {
    return {{"loss", loss},   {"metric", metric}, {"seconds", seconds}, {"steps", steps},
            {"samples", samples}, {"lr", lr},     {"grad_norm", grad_norm}};
  }
  static Sums from_json(const json& j) {
    return {j.value("loss", 0.0),          j.value("metric", 0.0),
            j.value("seconds", 0.0),       j.value("steps", int64_t{0}),
            j.value("samples", int64_t{0}), j.value("lr", 0.0),
            j.value("grad_norm", 0.0)};
  }
};

// The loop's running state beyond the step: saved in every checkpoint.
struct LoopState {
  Sums since_point, since_eval;
  double best = std::numeric_limits<double>::quiet_NaN();  // validation metric of `best`
  double best_loss = 0;                                     // and its validation loss
  int64_t best_step = 0;
  json test_at_best;  // {loss, metric} of the test split for `best`; null without one
  double elapsed_s = 0;  // wall time of earlier sessions
  int64_t last_eval = -1;
  json to_json() const {
    return {{"since_point", since_point.to_json()},
            {"since_eval", since_eval.to_json()},
            {"best", std::isnan(best) ? json() : json(best)},
            {"best_loss", best_loss},
            {"best_step", best_step},
            {"test_at_best", test_at_best},
            {"elapsed_s", elapsed_s},
            {"last_eval", last_eval}};
  }
  static LoopState from_json(const json& j) {
    LoopState s;
    s.since_point = Sums::from_json(j.value("since_point", json::object()));
    s.since_eval = Sums::from_json(j.value("since_eval", json::object()));
    if (j.contains("best") && j["best"].is_number()) s.best = j["best"];
    s.best_loss = j.value("best_loss", 0.0);
    s.best_step = j.value("best_step", int64_t{0});
    s.test_at_best = j.value("test_at_best", json());
    s.elapsed_s = j.value("elapsed_s", 0.0);
    s.last_eval = j.value("last_eval", int64_t{-1});
    return s;
  }
};

// The startup table's rows the loop knows: how long, how the rate moves, what clips.
void log_loop(const RunSettings& s, const Task& task, const Pruner& pruner) {
  const auto& t = s.train;
  const int64_t spe = task.steps_per_epoch();
  spdlog::info("steps: {}{}; batch {} x gradient accumulation {}; evaluation every {} steps",
               t.max_steps,
               spe ? fmt::format(" = {} epochs x {} steps per epoch", t.epochs, spe) : "",
               t.batch_size, t.gradient_accumulation, task.eval_interval());
  spdlog::info("learning rate: {} warmup steps, then {}{}; gradient clip {}", t.warmup_steps,
               t.lr_schedule,
               t.lr_schedule == "cosine" ? fmt::format(" to {} at step {}", t.lr_min, t.max_steps)
                                         : "",
               s.optim.spam.enabled && s.optim.spam.grad_clip > 0
                   ? fmt::format("{} inside the optimizer, after its spike test",
                                 s.optim.spam.grad_clip)
                   : (t.grad_clip > 0 ? fmt::format("{}", t.grad_clip) : std::string("off")));
  if (s.prune.method == "none") return;
  const auto& p = s.prune;
  spdlog::info("pruning {}: 0 through step {}, {} ramp to {:.1f}% at step {}{}, masks every {} "
               "steps; {:.2f}% at the last update",
               p.method, p.warmup_steps, p.schedule, 100 * p.target_sparsity, p.ramp_end_step,
               p.ramp_end_epoch ? fmt::format(" (end of epoch {})", p.ramp_end_epoch) : "",
               p.frequency, 100 * pruner.target_at(t.max_steps / p.frequency * p.frequency));
}

}  // namespace

ParamGroups param_groups(Model& model) {
  ParamGroups g;
  for (const auto& r : model.param_roles()) (r.decay ? g.decay : g.no_decay).push_back(r.param);
  return g;
}

std::vector<PrunableParam> prunable_params(Model& model) {
  std::vector<PrunableParam> out;
  for (const auto& r : model.param_roles())
    if (r.prunable) out.push_back({r.name, r.param, r.cls});
  return out;
}

double learning_rate_at(const TrainSettings& t, double lr, int64_t step) {
  if (step < t.warmup_steps)
    return lr * static_cast<double>(step) / static_cast<double>(t.warmup_steps);
  if (t.lr_schedule != "cosine") return lr;
  if (step >= t.max_steps) return t.lr_min;
  const double ratio = static_cast<double>(step - t.warmup_steps) /
                       static_cast<double>(t.max_steps - t.warmup_steps);
  return t.lr_min + 0.5 * (1.0 + std::cos(M_PI * ratio)) * (lr - t.lr_min);
}

void resolve_ramp(PruneSettings& prune, int64_t steps_per_epoch) {
  if (prune.ramp_end_epoch > 0) prune.ramp_end_step = prune.ramp_end_epoch * steps_per_epoch;
}

void check_ramp(const PruneSettings& p, const Pruner& pruner, int64_t steps, bool in_epochs) {
  if (p.method == "none") return;
  const int64_t last_update = steps / p.frequency * p.frequency;
  const double reached = last_update > p.warmup_steps ? pruner.target_at(last_update) : 0.0;
  KNLP_CHECK_INPUT(
      reached >= p.target_sparsity, fmt::format("CONFIG_{}", ramp_end_symbol(p.method, in_epochs)),
      "the ramp ends at step {}{}, but the run's last mask update is at step {} ({} steps, "
      "masks every {}), where it reaches {:.1f}% of the target {:.1f}%; end the ramp at or "
      "before step {} or train longer",
      p.ramp_end_step, p.ramp_end_epoch ? fmt::format(" (epoch {})", p.ramp_end_epoch) : "",
      last_update, steps, p.frequency, 100 * reached, 100 * p.target_sparsity, last_update);
}

RunResult train(RunContext& ctx) {
  auto& s = ctx.settings;
  const auto& t = s.train;
  torch::manual_seed(t.seed);
  auto task = make_task(s, ctx.device);
  auto model = make_model(s.model);
  model->to(ctx.device);
  auto optimizer = make_optimizer(param_groups(*model), s.optim);
  resolve_ramp(s.prune, task->steps_per_epoch());
  auto pruner = make_pruner(s.prune, prunable_params(*model));
  check_ramp(s.prune, *pruner, t.max_steps, task->steps_per_epoch() > 0);
  const bool pruning = s.prune.method != "none";
  const bool amp = ctx.device.is_cuda() && !t.amp_dtype.empty();
  const int64_t GA = t.gradient_accumulation;
  const std::string metric = task->metric(), unit = task->unit();

  ctx.start_metrics(model->num_params(), "val_" + metric, task->higher_is_better());
  if (task->has_test_split()) ctx.metrics["test_metric"] = "test_" + metric;
  ctx.metrics["steps"] = t.max_steps;
  ctx.metrics["steps_per_epoch"] = task->steps_per_epoch();
  task->describe(*model, ctx.metrics);
  log_loop(s, *task, *pruner);

  TrainPosition pos;
  if (auto resumed = load_checkpoint(ctx, *model, *optimizer, *pruner))
    pos = *resumed;
  else
    task->initialize(*model);
  LoopState st = LoopState::from_json(pos.extra);
  const auto session_start = Clock::now();
  auto wall = [&] { return st.elapsed_s + seconds_since(session_start); };
  auto checkpoint = [&](bool is_best) {
    LoopState saved = st;
    saved.elapsed_s = wall();
    pos.extra = saved.to_json();
    save_checkpoint(ctx, *model, *optimizer, *pruner, pos, is_best);
  };
  auto better = [&](double v) {
    return std::isnan(st.best) || (task->higher_is_better() ? v > st.best : v < st.best);
  };
  auto epoch_of = [&](json& j) {
    if (task->steps_per_epoch()) j["epoch"] = pos.step / task->steps_per_epoch();
  };

  // Validation now (and the test split for a new best); an eval point, the
  // summary, metrics.json and a checkpoint.
  auto evaluate = [&](double lr) {
    const Evaluation val = task->validate(*model);
    const bool is_best = better(val.metric);
    json point = {{"step", pos.step},
                  {"samples", pos.step * GA * task->samples_per_micro_batch()},
                  {"val_loss", val.loss},
                  {"val_" + metric, val.metric},
                  {"lr", lr},
                  {"time_s", wall()}};
    epoch_of(point);
    const Sums& since = st.since_eval;
    if (since.steps > 0) {
      point["train_loss"] = since.mean_loss();
      point["train_" + metric] = task->metric_of(since.mean_loss(), since.metric, since.samples);
      point[unit + "_per_s"] = static_cast<double>(since.samples) / since.seconds;
    }
    if (pruning) {
      point["sparsity"] = pruner->sparsity();
      point["target_sparsity"] = pruner->target_at(pos.step);
    }
    Evaluation test{};
    if (task->has_test_split() && is_best) {
      test = task->test(*model);
      point["test_loss"] = test.loss;
      point["test_" + metric] = test.metric;
    }
    if (is_best) {
      st.best = val.metric, st.best_loss = val.loss, st.best_step = pos.step;
      if (task->has_test_split()) st.test_at_best = {{"loss", test.loss}, {"metric", test.metric}};
    }
    st.last_eval = pos.step;
    st.since_eval = {};
    ctx.metrics["eval"].push_back(point);
    json summary = {{"status", "running"},
                    {"steps", pos.step},
                    {"best", st.best},
                    {"best_step", st.best_step},
                    {"best_val_loss", st.best_loss},
                    {"final", val.metric},
                    {"final_val_loss", val.loss},
                    {"total_time_s", wall()},
                    {"peak_rss_mib", peak_rss_mib()}};
    epoch_of(summary);
    if (pruning) summary["final_sparsity"] = pruner->sparsity();
    if (task->has_test_split()) summary["test_at_best"] = st.test_at_best["metric"];
    ctx.metrics["summary"] = summary;
    spdlog::info("step {}/{}{}: val loss {:.4f} {} {:.2f}{}{}{}", pos.step, t.max_steps,
                 task->steps_per_epoch()
                     ? fmt::format(" (epoch {})", pos.step / task->steps_per_epoch())
                     : "",
                 val.loss, metric, val.metric, is_best ? " (best)" : "",
                 point.contains("test_" + metric)
                     ? fmt::format(" | test {} {:.2f}", metric, test.metric)
                     : "",
                 pruning ? fmt::format(" | sparsity {:.1f}%", 100 * pruner->sparsity()) : "");
    ctx.write_metrics();
    checkpoint(is_best);
  };

  double sparsity = pruner->sparsity();  // measured at each train point, for the bar
  // A train metrics point and log line for the steps since the last one.
  auto train_point = [&] {
    const Sums& p = st.since_point;
    const double rate = static_cast<double>(p.samples) / p.seconds;
    json point = {{"step", pos.step},
                  {"loss", p.mean_loss()},
                  {metric, task->metric_of(p.mean_loss(), p.metric, p.samples)},
                  {"lr", p.lr},
                  {"grad_norm", p.grad_norm},
                  {unit + "_per_s", rate},
                  {"time_s", wall()}};
    if (pruning) point["sparsity"] = sparsity = pruner->sparsity();
    point.update(task->rate_fields(rate));
    ctx.metrics["train"].push_back(point);
    spdlog::debug("step {}: loss {:.4f} lr {:.2e} grad norm {:.3f} | {:.0f} {}/s", pos.step,
                  p.mean_loss(), p.lr, p.grad_norm, rate, unit);
    st.since_point = {};
  };

  const auto params = model->parameters();
  // One optimizer step at learning rate lr.
  auto train_step = [&](double lr) {
    const auto start = Clock::now();
    set_learning_rate(*optimizer, lr);
    optimizer->zero_grad();
    auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(ctx.device));
    Sums step;
    for (int64_t m = 0; m < GA; ++m) {
      const Batch batch = task->train_batch(pos.step, m);
      ModelOutput out;
      {
        Autocast autocast(amp);
        out = model->forward(batch);
      }
      (out.loss / static_cast<double>(GA)).backward();
      loss_sum += out.loss.detach().to(torch::kDouble);
      step.metric += task->train_metric_sum(out, batch);
      step.samples += batch.target.numel();  // images, or predicted tokens
    }
    pruner->mask_gradients();
    // clip_grad_norm_ with an infinite bound measures the norm and leaves the gradients.
    step.grad_norm = torch::nn::utils::clip_grad_norm_(
        params, t.grad_clip > 0 ? t.grad_clip : std::numeric_limits<double>::infinity());
    optimizer->step();
    ++pos.step;
    pruner->after_step(pos.step, [&](const torch::Tensor& w) {
      auto m = adam_moments(*optimizer, w);
      return Moments{m.exp_avg, m.exp_avg_sq, m.max_exp_avg_sq};
    });
    step.loss = loss_sum.item<double>() / static_cast<double>(GA);
    step.lr = lr;
    step.steps = 1;
    step.seconds = seconds_since(start);
    st.since_point.add(step);
    st.since_eval.add(step);
  };

  model->train();
  if (st.last_eval < 0) evaluate(learning_rate_at(t, s.optim.lr, 0));
  std::string stop_reason = "max_steps";
  const int64_t interval = task->eval_interval();
  while (pos.step < t.max_steps) {
    if (t.max_time_s > 0 && wall() >= static_cast<double>(t.max_time_s)) {
      stop_reason = "max_time";
      break;
    }
    const int64_t from = pos.step / interval * interval;
    ProgressBar bar(task->steps_per_epoch()
                        ? fmt::format("epoch {}/{}", pos.step / task->steps_per_epoch() + 1,
                                      t.epochs)
                        : fmt::format("steps {}-{}", from + 1,
                                      std::min(from + interval, t.max_steps)),
                    std::min(interval, t.max_steps - from), ctx.progress);
    bool stop = false;
    while (pos.step < t.max_steps && !stop) {
      const double lr = learning_rate_at(t, s.optim.lr, pos.step);
      train_step(lr);
      const Sums& e = st.since_eval;
      bar.update(pos.step - from,
                 fmt::format("loss {:.4f} {} {:.2f} {}{:.0f} {}/s", e.mean_loss(), metric,
                             task->metric_of(e.mean_loss(), e.metric, e.samples),
                             pruning ? fmt::format("sparsity {:.1f}% ", 100 * sparsity) : "",
                             static_cast<double>(e.samples) / e.seconds, unit));
      if (pos.step % t.log_interval == 0) train_point();
      stop = ctx.should_stop(pos.step);
      if (pos.step % interval == 0 || pos.step == t.max_steps) {
        bar.finish();
        evaluate(lr);
        break;
      }
      if (stop || (t.checkpoint_interval > 0 && pos.step % t.checkpoint_interval == 0))
        checkpoint(false);
      if (t.max_time_s > 0 && wall() >= static_cast<double>(t.max_time_s)) break;
    }
    bar.finish();
    if (stop && pos.step < t.max_steps) {
      spdlog::warn("interrupted at step {}; resume with: knlp run --resume {}", pos.step,
                   ctx.dir.string());
      ctx.write_metrics();
      return {ctx.dir, RunStatus::interrupted(pos.step), st.best, 0};
    }
  }
  if (st.since_point.steps > 0) train_point();  // stopped by the time limit between points
  if (st.last_eval != pos.step) evaluate(learning_rate_at(t, s.optim.lr, pos.step));
  auto& summary = ctx.metrics["summary"];
  if (task->has_test_split()) {  // the test split of the final model, beside the last eval
    const Evaluation test = task->test(*model);
    summary["final_test"] = test.metric;
    ctx.metrics["eval"].back()["test_loss"] = test.loss;
    ctx.metrics["eval"].back()["test_" + metric] = test.metric;
  }
  summary["status"] = "done";
  summary["stop_reason"] = stop_reason;
  ctx.write_metrics();
  const double final_metric = summary["final"];
  spdlog::info("done: {} after {} steps ({}): best val {} {:.2f} (step {}){}, final {:.2f}{} -> {}",
               run_name(s), pos.step, format_duration(wall()), metric, st.best, st.best_step,
               task->has_test_split()
                   ? fmt::format(", test {} there {:.2f}", metric,
                                 st.test_at_best["metric"].get<double>())
                   : "",
               final_metric,
               pruning ? fmt::format(", sparsity {:.1f}%", 100 * pruner->sparsity()) : "",
               ctx.dir.string());
  return {ctx.dir, {RunStatus::State::kDone, ""}, st.best, final_metric};
}

}  // namespace knlp
