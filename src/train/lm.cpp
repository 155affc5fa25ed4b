// train/lm.cpp - the iteration-based trainer of language models (GPT-2).
//
// nanoGPT's train.py loop: per iteration set the learning rate (linear warmup,
// then a half cosine to min_lr at max_iters), accumulate gradients over
// micro-batches of random windows, clip the global norm, step. Every
// eval_interval steps (and before the first and after the last) the mean loss
// of eval_samples fixed validation batches is recorded and a checkpoint
// written, `best` when it improved. Micro-batch k of step s draws its windows
// from a generator seeded by (seed, s, k), so a resumed run reads exactly the
// batches an uninterrupted one would; dropout's generator is checkpointed.
// A later data-parallel version adds the rank to that seed.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "data/data.h"
#include "optim/optim.h"
#include "train/context.h"
#include "util/check.h"
#include "util/log.h"

namespace knlp {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A generator for draw `index` of stream `stream`: splitmix64 of the three.
torch::Generator window_generator(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + stream * 0xBF58476D1CE4E5B9ULL + index;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return at::make_generator<at::CPUGeneratorImpl>(z ^ (z >> 31));
}
constexpr uint64_t kTrainStream = 1, kEvalStream = 2;

// bf16 autocast on CUDA for the lifetime of the guard (a no-op when off).
class Autocast {
 public:
  explicit Autocast(bool on) : on_(on) {
    if (!on_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~Autocast() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(at::kCUDA, false);
  }
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool on_;
};

// The reference's schedule (gpt2.md §1.4): lr * it / warmup, then a half cosine from
// lr to min_lr ending at max_iters, min_lr after it; constant without decay.
double lr_at(const LmSettings& l, double lr, int64_t it) {
  if (it < l.warmup_iters)
    return lr * static_cast<double>(it) / static_cast<double>(l.warmup_iters);
  if (!l.decay_lr) return lr;
  if (it >= l.max_iters) return l.min_lr;
  const double ratio = static_cast<double>(it - l.warmup_iters) /
                       static_cast<double>(l.max_iters - l.warmup_iters);
  return l.min_lr + 0.5 * (1.0 + std::cos(M_PI * ratio)) * (lr - l.min_lr);
}

// Mean loss of `batches` validation batches, the same windows at every call.
double evaluate(LanguageModel& model, const TokenFile& val, int64_t batches, int64_t batch,
                int64_t block, uint64_t seed, torch::Device device, bool amp) {
  torch::NoGradGuard no_grad;
  model.eval();
  auto gen = window_generator(seed, kEvalStream, 0);
  auto sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device));
  for (int64_t i = 0; i < batches; ++i) {
    auto [x, y] = val.sample(batch, block, gen);
    Autocast autocast(amp);
    sum += model.forward({x.to(device), y.to(device)}).loss.to(torch::kDouble);
  }
  model.train();
  return sum.item<double>() / static_cast<double>(batches);
}

double perplexity(double loss) { return std::exp(std::min(loss, 20.0)); }

// FLOP/s of a square matrix multiply on device: the peak MFU is measured against.
double matmul_peak_flops(torch::Device device, bool bf16) {
  torch::NoGradGuard no_grad;
  const int64_t n = device.is_cuda() ? 8192 : 1024;
  const int reps = device.is_cuda() ? 20 : 5;
  auto opts = torch::TensorOptions().device(device).dtype(bf16 ? torch::kBFloat16 : torch::kFloat);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);  // leaves the global RNG alone
  auto a = torch::randn({n, n}, gen).to(opts), b = torch::randn({n, n}, gen).to(opts);
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  for (int i = 0; i < 2; ++i) torch::mm(a, b);
  sync();
  const auto start = Clock::now();
  for (int i = 0; i < reps; ++i) torch::mm(a, b);
  sync();
  return 2.0 * static_cast<double>(n * n * n) * reps / seconds_since(start);
}

// Prunable weights of a language model: the linear weights inside the blocks.
std::vector<PrunableParam> block_linear_weights(torch::nn::Module& model) {
  std::vector<PrunableParam> out;
  for (const auto& p : model.named_parameters())
    if (p.key().rfind("h.", 0) == 0 && p.value().dim() == 2) out.push_back({p.key(), p.value()});
  return out;
}

// Checks every token id of f is below the model's vocabulary.
void check_ids(const TokenFile& f, int64_t vocab) {
  const auto largest = static_cast<int64_t>(f.counts().size()) - 1;
  KNLP_CHECK_INPUT(largest < vocab, f.path().string(),
                   "holds token id {}, past the model's vocabulary of {} "
                   "(CONFIG_GPT2_VOCAB_SIZE)",
                   largest, vocab);
}

// Sums over the steps since the last train metrics point, and the last step's lr
// and gradient norm.
struct Interval {
  double loss = 0, seconds = 0;
  int64_t steps = 0;
  double lr = 0, grad_norm = 0;
  json to_json() const {
    return {{"loss", loss}, {"seconds", seconds}, {"steps", steps}, {"lr", lr},
            {"grad_norm", grad_norm}};
  }
  static Interval from_json(const json& j) {
    return {j.value("loss", 0.0), j.value("seconds", 0.0), j.value("steps", int64_t{0}),
            j.value("lr", 0.0), j.value("grad_norm", 0.0)};
  }
};

}  // namespace

DryRunInput lm_dry_run(const RunSettings& settings, int64_t batch_size) {
  const auto& g = settings.model.gpt2;
  const int64_t T = std::min<int64_t>(g.block_size, 16);
  auto x = torch::randint(0, g.vocab_size, {batch_size, T}, torch::kLong);  // (B, T)
  auto y = torch::randint(0, g.vocab_size, {batch_size, T}, torch::kLong);  // (B, T)
  return {settings.model, {x, y}, static_cast<double>(g.block_size) / static_cast<double>(T)};
}

RunResult train_lm(RunContext& ctx) {
  auto& s = ctx.settings;
  const auto& l = s.lm;
  const auto& t = s.train;
  const int64_t B = t.batch_size, T = s.model.gpt2.block_size, GA = l.gradient_accumulation;
  const bool amp = ctx.device.is_cuda() && !l.amp_dtype.empty();
  torch::manual_seed(t.seed);
  if (ctx.device.is_cuda()) at::globalContext().setAllowTF32CuBLAS(l.tf32);

  TokenData data = load_tokens(s.data);
  KNLP_CHECK_INPUT(data.tokenizer.empty() || data.tokenizer == s.tokenizer.name,
                   (s.data.tokens / "manifest.json").string(),
                   "the data was tokenized with {}, the .config says CONFIG_GPT2_TOKENIZER "
                   "\"{}\"; prepare the data again or choose {}",
                   data.tokenizer, s.tokenizer.name, data.tokenizer);
  if (!l.init_from.empty()) {
    // A file of the unpadded vocabulary (OpenAI's 50257) sets the model's.
    const auto file = weights_shape(l.init_from, s.model.gpt2);
    if (file.vocab_size != s.model.gpt2.vocab_size)
      spdlog::warn("vocabulary {} from {} instead of CONFIG_GPT2_VOCAB_SIZE {}", file.vocab_size,
                   l.init_from.string(), s.model.gpt2.vocab_size);
    s.model.gpt2.vocab_size = file.vocab_size;
  }
  auto model = make_language_model(s.model);
  model->to(ctx.device);
  const int64_t vocab = model->vocab_size();
  check_ids(data.train, vocab);
  check_ids(data.val, vocab);
  const double unigram = unigram_cross_entropy(data.train, data.val, vocab);
  auto optimizer = make_optimizer(*model, s.optim);
  auto pruner = make_pruner(s.prune, block_linear_weights(*model),
                            std::max<int64_t>(1, l.max_iters / std::max<int64_t>(1, t.epochs)));
  const int64_t tokens_per_step = B * GA * T;
  const double peak = matmul_peak_flops(ctx.device, amp);
  const auto shape = gpt2_shape(s.model.gpt2);
  spdlog::info("gpt2 {} ({} layers, {} heads, {} wide, block {}, vocab {}): {} parameters",
               shape.size, shape.n_layer, shape.n_head, shape.n_embd, T, vocab,
               model->num_params());
  spdlog::info("data {}: {} train / {} val tokens ({}); {} tokens per step ({} x {} x {})",
               data.name, data.train.size(), data.val.size(), s.tokenizer.name, tokens_per_step, B,
               GA, T);
  spdlog::info("unigram baseline: val loss {:.4f} (perplexity {:.1f}); matmul peak {:.1f} "
               "GFLOP/s",
               unigram, perplexity(unigram), peak / 1e9);

  ctx.start_metrics(data.name, model->num_params(), "val_perplexity", false);
  ctx.metrics["lm"] = {{"size", shape.size},
                       {"n_layer", shape.n_layer},
                       {"n_head", shape.n_head},
                       {"n_embd", shape.n_embd},
                       {"block_size", T},
                       {"vocab_size", vocab},
                       {"attention", shape.attention},
                       {"tokenizer", s.tokenizer.name},
                       {"batch_size", B},
                       {"gradient_accumulation", GA},
                       {"tokens_per_step", tokens_per_step},
                       {"max_iters", l.max_iters},
                       {"max_time_s", l.max_time_s},
                       {"train_tokens", data.train.size()},
                       {"val_tokens", data.val.size()},
                       {"unigram_val_loss", unigram},
                       {"unigram_val_perplexity", perplexity(unigram)},
                       {"flops_per_token", model->flops_per_token()},
                       {"peak_flops", peak},
                       {"amp", amp ? l.amp_dtype : "none"}};
  TrainPosition pos;
  const auto resumed = load_checkpoint(ctx, *model, *optimizer, *pruner);
  if (resumed)
    pos = *resumed;
  else if (!l.init_from.empty())
    load_weights(*model, l.init_from);
  Interval interval = Interval::from_json(pos.extra.value("interval", json::object()));
  double best = pos.extra.value("best", std::numeric_limits<double>::infinity());
  int64_t best_step = pos.extra.value("best_step", int64_t{0});
  double elapsed = pos.extra.value("elapsed_s", 0.0);  // wall time of earlier sessions
  int64_t last_eval = pos.extra.value("last_eval", int64_t{-1});
  const auto session_start = Clock::now();
  auto wall = [&] { return elapsed + seconds_since(session_start); };

  auto checkpoint = [&](bool is_best) {
    pos.extra = {{"interval", interval.to_json()}, {"best", best},
                 {"best_step", best_step},         {"elapsed_s", wall()},
                 {"last_eval", last_eval}};
    save_checkpoint(ctx, *model, *optimizer, *pruner, pos, is_best);
  };
  // Validation loss now; a metrics point, the summary, metrics.json and a checkpoint.
  auto eval_and_checkpoint = [&](double lr) {
    const double loss = evaluate(*model, data.val, l.eval_samples, B, T, t.seed, ctx.device, amp);
    const bool is_best = loss < best;
    if (is_best) best = loss, best_step = pos.step;
    last_eval = pos.step;
    ctx.metrics["eval"].push_back({{"step", pos.step},
                                   {"tokens", pos.step * tokens_per_step},
                                   {"val_loss", loss},
                                   {"val_perplexity", perplexity(loss)},
                                   {"lr", lr},
                                   {"time_s", wall()}});
    ctx.metrics["summary"] = {{"status", "running"},
                              {"steps", pos.step},
                              {"tokens", pos.step * tokens_per_step},
                              {"best", perplexity(best)},
                              {"best_step", best_step},
                              {"best_val_loss", best},
                              {"final", perplexity(loss)},
                              {"final_val_loss", loss},
                              {"unigram_val_loss", unigram},
                              {"total_time_s", wall()},
                              {"peak_rss_mib", peak_rss_mib()}};
    spdlog::info("step {}/{}: val loss {:.4f} (perplexity {:.2f}){} | unigram {:.4f}", pos.step,
                 l.max_iters, loss, perplexity(loss), is_best ? ", best" : "", unigram);
    ctx.write_metrics();
    checkpoint(is_best);
  };
  auto moments = [&](const torch::Tensor& w) {
    auto m = adam_moments(*optimizer, w);
    return Moments{m.exp_avg, m.exp_avg_sq, m.max_exp_avg_sq};
  };
  const auto params = model->parameters();
  // One optimizer step at learning rate lr; returns the mean micro-batch loss.
  auto train_step = [&](double lr) {
    set_learning_rate(*optimizer, lr);
    optimizer->zero_grad();
    auto loss_sum = torch::zeros({}, torch::TensorOptions().device(ctx.device));
    for (int64_t m = 0; m < GA; ++m) {
      auto gen = window_generator(t.seed, kTrainStream, static_cast<uint64_t>(pos.step * GA + m));
      auto [x, y] = data.train.sample(B, T, gen);
      torch::Tensor loss;
      {
        Autocast autocast(amp);
        loss = model->forward({x.to(ctx.device), y.to(ctx.device)}).loss;
      }
      (loss / static_cast<double>(GA)).backward();
      loss_sum += loss.detach().to(torch::kFloat);
    }
    pruner->mask_gradients();
    interval.grad_norm = torch::nn::utils::clip_grad_norm_(params, t.grad_clip);
    optimizer->step();
    ++pos.step;
    pruner->after_step(pos.step, moments);
    return loss_sum.item<double>() / static_cast<double>(GA);
  };
  ProgressBar bar("train", l.max_iters, ctx.progress);
  // A train metrics point and log line for the steps since the last one.
  auto log_point = [&] {
    const double mean = interval.loss / static_cast<double>(interval.steps);
    const double tok_s = static_cast<double>(interval.steps * tokens_per_step) / interval.seconds;
    const double mfu = model->flops_per_token() * tok_s / peak;
    ctx.metrics["train"].push_back({{"step", pos.step},
                                    {"loss", mean},
                                    {"perplexity", perplexity(mean)},
                                    {"lr", interval.lr},
                                    {"grad_norm", interval.grad_norm},
                                    {"tokens_per_s", tok_s},
                                    {"mfu", mfu},
                                    {"time_s", wall()}});
    spdlog::info("step {}: loss {:.4f} ppl {:.1f} lr {:.2e} grad norm {:.2f} | {:.0f} tok/s, "
                 "MFU {:.1f}%",
                 pos.step, mean, perplexity(mean), interval.lr, interval.grad_norm, tok_s,
                 100 * mfu);
    bar.update(pos.step, fmt::format("loss {:.4f} {:.0f} tok/s", mean, tok_s));
    interval = {};
  };

  model->train();
  if (last_eval < 0) eval_and_checkpoint(lr_at(l, s.optim.lr, 0));
  std::string stop_reason = "max_iters";
  while (pos.step < l.max_iters) {
    if (l.max_time_s > 0 && wall() >= static_cast<double>(l.max_time_s)) {
      stop_reason = "max_time";
      break;
    }
    const auto start = Clock::now();
    const double lr = lr_at(l, s.optim.lr, pos.step);
    interval.loss += train_step(lr);
    interval.lr = lr;
    interval.seconds += seconds_since(start);
    ++interval.steps;
    if (pos.step % l.log_interval == 0 || pos.step == l.max_iters) log_point();
    const bool stop = ctx.should_stop(pos.step);
    if (pos.step % l.eval_interval == 0) {
      bar.finish();
      eval_and_checkpoint(lr);
    } else if (stop || (t.checkpoint_interval > 0 && pos.step % t.checkpoint_interval == 0)) {
      checkpoint(false);
    }
    if (stop && pos.step < l.max_iters) {
      bar.finish();
      spdlog::warn("interrupted at step {}; resume with: knlp run --resume {}", pos.step,
                   ctx.dir.string());
      ctx.write_metrics();
      return {ctx.dir, fmt::format("failed: interrupted at step {}", pos.step), perplexity(best),
              0};
    }
  }
  if (interval.steps > 0) log_point();  // stopped by the time limit between points
  bar.finish();
  if (last_eval != pos.step) eval_and_checkpoint(lr_at(l, s.optim.lr, pos.step));
  const double final_ppl = ctx.metrics["summary"]["final"];
  ctx.metrics["summary"]["status"] = "done";
  ctx.metrics["summary"]["stop_reason"] = stop_reason;
  ctx.write_metrics();
  spdlog::info("done: {} after {} steps ({}): best val loss {:.4f} (perplexity {:.2f}, step {}), "
               "final perplexity {:.2f}; unigram baseline {:.4f} -> {}",
               run_name(s), pos.step, format_duration(wall()), best, perplexity(best), best_step,
               final_ppl, unigram, ctx.dir.string());
  return {ctx.dir, "done", perplexity(best), final_ppl};
}

}  // namespace knlp
