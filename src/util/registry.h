// util/registry.h - tables of named rows, and the one lookup every table uses.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>
#include <string_view>
#include <vector>

#include "util/check.h"

namespace knlp {

// The row of `table` whose name is `name`, or nullptr.
template <typename Table>
const auto* find_row(const Table& table, std::string_view name) {
  for (const auto& row : table)
    if (name == row.name) return &row;
  return static_cast<decltype(&*std::begin(table))>(nullptr);
}

// The names of the rows, in table order.
template <typename Table>
std::vector<std::string> row_names(const Table& table) {
  std::vector<std::string> names;
  for (const auto& row : table) names.emplace_back(row.name);
  return names;
}

// The row named `name`; otherwise Error (exit 2): "<where>: <what>: unknown value
// 'x'; accepted: a, b, c".
template <typename Table>
const auto& lookup(const Table& table, std::string_view name, std::string where,
                   std::string_view what) {
  if (const auto* row = find_row(table, name)) return *row;
  raise_at(std::move(where), what,
           fmt::format("unknown value '{}'; accepted: {}", name,
                       fmt::join(row_names(table), ", ")));
}

}  // namespace knlp
