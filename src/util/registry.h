// util/registry.h - tables of named rows: the row called x, or which names are accepted.
//
// A table is a C array, std::array or std::vector of rows. A row is named by
// its `name` member (const char*, std::string_view or std::string), or is the
// name itself in a table of plain strings ({"trace", "debug", ...}). Every
// module looks its variants up through these, so an unknown name always
// fails with the same line: "<where>: <what>: unknown value 'x'; accepted: a, b".
#pragma once

#include <fmt/format.h>

#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "util/check.h"

namespace knlp {

namespace registry_detail {

// The name of a row: the row itself for plain strings, else its `name` member.
template <typename Row>
std::string_view row_name(const Row& row) {
  if constexpr (std::is_convertible_v<const Row&, std::string_view>)
    return row;
  else
    return row.name;
}

}  // namespace registry_detail

// The row of `table` called `name`, or nullptr.
template <typename Table>
auto find_row(const Table& table, std::string_view name) -> decltype(&*std::begin(table)) {
  for (const auto& row : table)
    if (registry_detail::row_name(row) == name) return &row;
  return nullptr;
}

// The names of `table`'s rows, in table order.
template <typename Table>
std::vector<std::string> row_names(const Table& table) {
  std::vector<std::string> names;
  for (const auto& row : table) names.emplace_back(registry_detail::row_name(row));
  return names;
}

// The names of `table`'s rows in table order, joined by ", " ("a, b, c").
template <typename Table>
std::string accepted_names(const Table& table) {
  std::string out;
  for (const auto& row : table) {
    if (!out.empty()) out += ", ";
    out += registry_detail::row_name(row);
  }
  return out;
}

// The row of `table` called `name`; an unknown name throws Error (exit 2) with
// the line "<where>: <what>: unknown <noun> '<name>'; accepted: <every name>".
template <typename Table>
const auto& lookup(const Table& table, std::string_view name, std::string where,
                   std::string_view what, std::string_view noun = "value") {
  if (const auto* row = find_row(table, name)) return *row;
  raise_at(std::move(where), what,
           fmt::format("unknown {} '{}'; accepted: {}", noun, name, accepted_names(table)));
}

}  // namespace knlp
