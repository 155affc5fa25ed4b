// train/load.cpp - a trained language model back from its run directory.
#include <fmt/format.h>

#include "train/context.h"
#include "util/check.h"
#include "util/fs.h"

namespace knlp {

TrainedModel load_trained_model(const std::filesystem::path& run_dir, const std::string& which,
                                torch::Device device) {
  KNLP_CHECK_INPUT(which == "best" || which == "last", "--checkpoint",
                   "'{}'; accepted: best, last", which);
  KNLP_CHECK_INPUT(std::filesystem::exists(run_dir / "config"), run_dir.string(),
                   "no run here (no config file); give a results/<run> folder");
  const auto ckpt = run_dir / which;
  KNLP_CHECK_INPUT(std::filesystem::exists(ckpt / "DONE"), ckpt.string(),
                   "no complete checkpoint; the run has not evaluated yet");
  TrainedModel t;
  t.settings = resolve(Config::load(run_dir / "config"));
  const auto metrics = json::parse(read_file(run_dir / "metrics.json"));
  const auto lm = metrics.value("lm", json::object());
  // The trainer may have taken the vocabulary from GPT2_INIT_FROM's file.
  t.settings.model.gpt2.vocab_size = lm.value("vocab_size", t.settings.model.gpt2.vocab_size);
  t.model = make_language_model(t.settings.model);
  torch::serialize::InputArchive ar;
  ar.load_from((ckpt / "model.pt").string());
  t.model->load(ar);
  t.model->to(device);
  t.model->eval();
  return t;
}

}  // namespace knlp
