// config/resolve_resnet.cpp - the ResNet symbols (Kconfig.resnet18, Kconfig.resnet50).
#include "config/config.h"
#include "util/registry.h"  // find_row

namespace knlp {

namespace {

// Per model: its augmentation switch (nullptr: always on), its cosine-schedule
// switch (nullptr: constant rate), and its stem and input-size symbols (nullptr:
// CIFAR stem, inputs as they come).
struct ResNetSymbols {
  const char* name;  // the model
  const char* augment;
  const char* cosine;
  const char* stem;
  const char* input_size;
};

constexpr ResNetSymbols kResNetSymbols[] = {
    {"resnet18", "RESNET18_USE_AUGMENTATION", "RESNET18_USE_COSINE_SCHEDULE", nullptr, nullptr},
    {"resnet50", nullptr, nullptr, "RESNET50_STEM", "RESNET50_INPUT_SIZE"},
};

}  // namespace

void resolve_resnet(const Config& cfg, RunSettings& s) {
  const ResNetSymbols* r = find_row(kResNetSymbols, s.model.name);
  if (!r) return;
  s.data.augment = !r->augment || cfg.get_bool(r->augment);
  if (r->cosine && cfg.get_bool(r->cosine)) s.train.lr_schedule = "cosine";
  if (r->stem) s.model.stem = cfg.get_string(r->stem, s.model.stem);
  if (r->input_size) s.model.input_size = cfg.get_int(r->input_size, 0);
}

}  // namespace knlp
