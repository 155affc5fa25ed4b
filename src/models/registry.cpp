// models/registry.cpp - model name -> constructor, the one place names are looked up.
#include <unordered_set>

#include "models/gpt2.h"
#include "models/lenet5.h"
#include "models/models.h"
#include "models/resnet.h"
#include "util/check.h"
#include "util/registry.h"  // row_names, lookup

namespace knlp {

namespace {

using MakeFn = std::shared_ptr<Model> (*)(const ModelSettings&);

template <typename M>
std::shared_ptr<Model> make(const ModelSettings& s) {
  return std::make_shared<M>(s);
}

struct ModelEntry {
  const char* name;
  MakeFn make;
};

const ModelEntry kModels[] = {
    {"lenet5", make<LeNet5>},
    {"resnet18", make<ResNet>},
    {"resnet50", make<ResNet>},
    {"gpt2", make_gpt2},
};

}  // namespace

std::vector<std::string> model_names() { return row_names(kModels); }

std::shared_ptr<Model> make_model(const ModelSettings& settings) {
  return lookup(kModels, settings.name, "model", "name").make(settings);
}

std::shared_ptr<LanguageModel> make_language_model(const ModelSettings& settings) {
  auto lm = std::dynamic_pointer_cast<LanguageModel>(make_model(settings));
  if (!lm) raise_at("model", settings.name, "not a language model; accepted: gpt2");
  return lm;
}

namespace {

bool is_norm_or_embedding(const torch::nn::Module& m) {
  return dynamic_cast<const torch::nn::BatchNorm1dImpl*>(&m) ||
         dynamic_cast<const torch::nn::BatchNorm2dImpl*>(&m) ||
         dynamic_cast<const torch::nn::LayerNormImpl*>(&m) ||
         dynamic_cast<const torch::nn::GroupNormImpl*>(&m) ||
         dynamic_cast<const torch::nn::EmbeddingImpl*>(&m);
}

bool is_linear_or_conv(const torch::nn::Module& m) {
  return dynamic_cast<const torch::nn::LinearImpl*>(&m) ||
         dynamic_cast<const torch::nn::Conv2dImpl*>(&m);
}

}  // namespace

std::vector<ParamRole> Model::param_roles() {
  std::vector<ParamRole> roles;
  std::unordered_set<const void*> seen;
  for (const auto& item : named_modules()) {
    const torch::nn::Module& m = *item.value();
    for (const auto& p : m.named_parameters(/*recurse=*/false)) {
      if (!p.value().requires_grad() || !seen.insert(p.value().unsafeGetTensorImpl()).second)
        continue;
      const bool weight = p.key() == "weight";
      roles.push_back({item.key().empty() ? p.key() : item.key() + "." + p.key(), p.value(),
                       p.value().dim() >= 2 && !is_norm_or_embedding(m),
                       weight && is_linear_or_conv(m), ParamClass::kOther});
    }
  }
  return roles;
}

int64_t Model::num_params() const {
  std::unordered_set<const void*> seen;
  int64_t n = 0;
  for (const auto& p : parameters())
    if (p.requires_grad() && seen.insert(p.data_ptr()).second) n += p.numel();
  return n;
}

torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& target) {
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                              target.reshape({-1}));
}

}  // namespace knlp
