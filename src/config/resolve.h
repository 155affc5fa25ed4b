// config/resolve.h - private to config/: what the resolve_*.cpp files share.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <string>

#include "config/config.h"
#include "util/check.h"

namespace knlp {

// The row of `table` named `name`, or nullptr.
template <typename Row, size_t N>
const Row* find_row(const Row (&table)[N], const std::string& name) {
  for (const auto& row : table)
    if (name == row.name) return &row;
  return nullptr;
}

// The row of `table` named `name`; an unknown name is an error (exit 2) naming
// CONFIG_<symbol> and listing the accepted names.
template <typename Row, size_t N>
const Row& lookup(const Row (&table)[N], const std::string& name, const Config& cfg,
                  const char* symbol) {
  if (const Row* row = find_row(table, name)) return *row;
  std::string names;
  for (const auto& row : table) names += names.empty() ? row.name : fmt::format(", {}", row.name);
  raise_at(cfg.origin(), fmt::format("CONFIG_{}", symbol),
           fmt::format("unknown value '{}'; accepted: {}", name, names));
}

// The optimizer of a run (resolve_optim.cpp). An optimizer that brings its own
// learning-rate schedule or gradient clip (AdamWAdv) sets them in `train`.
OptimSettings resolve_optim(const Config& cfg, TrainSettings& train);

}  // namespace knlp
