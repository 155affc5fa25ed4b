// util/registry.h: the row called x, the names in table order, and the error
// line that lists every accepted name.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "util/check.h"
#include "util/registry.h"

namespace {

struct Row {
  const char* name;
  int value;
};

const Row kRows[] = {{"alpha", 1}, {"beta", 2}, {"gamma", 3}};

// The Error a lookup of `name` in kRows raises.
knlp::Error error_of(std::string_view name) {
  try {
    knlp::lookup(kRows, name, "t.config", "CONFIG_GREEK");
  } catch (const knlp::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for '" << name << "'";
  return knlp::Error("", "", "", knlp::ExitCode::kRunFailed);
}

}  // namespace

TEST(Registry, FindsTheRowByName) {
  const Row* r = knlp::find_row(kRows, "beta");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r, &kRows[1]);
  EXPECT_EQ(knlp::find_row(kRows, "delta"), nullptr);
  EXPECT_EQ(knlp::find_row(kRows, "alph"), nullptr);  // whole names only
  EXPECT_EQ(knlp::find_row(kRows, ""), nullptr);
  EXPECT_EQ(knlp::lookup(kRows, "gamma", "t.config", "CONFIG_GREEK").value, 3);
  EXPECT_EQ(&knlp::lookup(kRows, "alpha", "t.config", "CONFIG_GREEK"), &kRows[0]);
}

TEST(Registry, WorksOnVectorsArraysAndPlainNames) {
  const std::vector<Row> v = {{"x", 7}, {"y", 8}};
  ASSERT_NE(knlp::find_row(v, "y"), nullptr);
  EXPECT_EQ(knlp::find_row(v, "y")->value, 8);
  struct ViewRow {
    std::string_view name;
  };
  const std::array<ViewRow, 2> a = {{{"p"}, {"q"}}};
  EXPECT_EQ(knlp::find_row(a, "q"), &a[1]);
  static const char* kLevels[] = {"trace", "debug", "info"};
  EXPECT_EQ(knlp::find_row(kLevels, "debug"), &kLevels[1]);
  EXPECT_EQ(knlp::row_names(kLevels), (std::vector<std::string>{"trace", "debug", "info"}));
  EXPECT_EQ(knlp::accepted_names(v), "x, y");
}

TEST(Registry, ListsNamesInTableOrder) {
  EXPECT_EQ(knlp::row_names(kRows), (std::vector<std::string>{"alpha", "beta", "gamma"}));
  EXPECT_EQ(knlp::accepted_names(kRows), "alpha, beta, gamma");
  EXPECT_TRUE(knlp::row_names(std::vector<Row>{}).empty());
}

TEST(Registry, UnknownNameIsOneLineListingEveryAcceptedName) {
  const auto e = error_of("delta");
  EXPECT_EQ(e.code(), knlp::ExitCode::kBadInput);
  EXPECT_EQ(e.where(), "t.config");
  EXPECT_EQ(e.subject(), "CONFIG_GREEK");
  EXPECT_EQ(e.line(),
            "t.config: CONFIG_GREEK: unknown value 'delta'; accepted: alpha, beta, gamma");
  EXPECT_EQ(e.line().find('\n'), std::string::npos);
  for (const auto& name : knlp::row_names(kRows))
    EXPECT_NE(e.message().find(name), std::string::npos) << name;
  try {
    knlp::lookup(kRows, "Beta", "gpt2", "mlp", "variant");  // names are case-sensitive
    ADD_FAILURE() << "no error";
  } catch (const knlp::Error& err) {
    EXPECT_EQ(err.line(), "gpt2: mlp: unknown variant 'Beta'; accepted: alpha, beta, gamma");
  }
}
