// config/resolve_matrix.cpp - a test matrix .config to the list of its combinations.
//
// Each dimension of the matrix (models, optimizers, pruning methods, ...) is a
// table: one row per value, naming the bool that lists it in a matrix .config
// and the lines that select it in the .config of one run. A new model,
// optimizer, method, sparsity or variant is one more row here (and its
// *_ENABLE_* bool in Kconfig). Whether a combination is a valid run is
// Kconfig's call, made when the matrix module applies the lines.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "config/config.h"
#include "config/resolve.h"
#include "util/check.h"

namespace knlp {

namespace {

struct Line {
  const char* symbol;
  const char* value;
};

struct Cell {
  const char* name;          // in labels: "sgd", "70"
  const char* enable;        // the bool that lists it in a matrix .config
  std::vector<Line> select;  // the lines that make a single-run .config train it
};

// A dimension turns into a list when `multiple` is y; otherwise the .config's own
// single choice stands. In a required dimension Kconfig must keep the lines of a
// cell (sgd with state pruning is no run); in an optional one a cell whose lines
// Kconfig drops collapses into its neighbours (a dense run has no sparsity).
struct Dimension {
  const char* name;
  const char* multiple;
  bool required;
  std::vector<Cell> cells;
};

// The model dimension, one cell per model row.
std::vector<Cell> model_cells() {
  std::vector<Cell> cells;
  for (const auto& m : model_symbols())
    cells.push_back({m.name, m.enable, {{"MODEL_MODE_SINGLE", "y"}, {m.select, "y"}}});
  return cells;
}

// clang-format off
const Dimension kDimensions[] = {
    {"model", "MODEL_MODE_MULTIPLE", true, model_cells()},
    {"attention", "GPT2_ATTENTION_MODE_MULTIPLE", true, {
      {"mha", "GPT2_ATTENTION_ENABLE_MHA",
       {{"GPT2_ATTENTION_MODE_SINGLE", "y"}, {"GPT2_ATTENTION_SELECT_MHA", "y"}, {"GPT2_RMLP", "n"}}},
      {"ra", "GPT2_ATTENTION_ENABLE_RA",
       {{"GPT2_ATTENTION_MODE_SINGLE", "y"}, {"GPT2_ATTENTION_SELECT_RA", "y"}, {"GPT2_RMLP", "n"}}},
      {"ra_rmlp", "GPT2_ATTENTION_ENABLE_RA_RMLP",
       {{"GPT2_ATTENTION_MODE_SINGLE", "y"}, {"GPT2_ATTENTION_SELECT_RA", "y"}, {"GPT2_RMLP", "y"}}},
      {"ra_folded", "GPT2_ATTENTION_ENABLE_RA_FOLDED",
       {{"GPT2_ATTENTION_MODE_SINGLE", "y"}, {"GPT2_ATTENTION_SELECT_RA_FOLDED", "y"},
        {"GPT2_RMLP", "n"}}},
      {"mla", "GPT2_ATTENTION_ENABLE_MLA",
       {{"GPT2_ATTENTION_MODE_SINGLE", "y"}, {"GPT2_ATTENTION_SELECT_MLA", "y"}, {"GPT2_RMLP", "n"}}},
      {"kvsplice", "GPT2_ATTENTION_ENABLE_KVSPLICE",
       {{"GPT2_ATTENTION_MODE_SINGLE", "y"}, {"GPT2_ATTENTION_SELECT_KVSPLICE", "y"},
        {"GPT2_RMLP", "n"}}},
    }},
    {"optimizer", "OPTIMIZER_MODE_MULTIPLE", true, {
      {"sgd", "OPTIMIZER_ENABLE_SGD",
       {{"OPTIMIZER_MODE_SINGLE", "y"}, {"OPTIMIZER_SELECT_SGD", "y"}}},
      {"adam", "OPTIMIZER_ENABLE_ADAM",
       {{"OPTIMIZER_MODE_SINGLE", "y"}, {"OPTIMIZER_SELECT_ADAM", "y"}}},
      {"adamw", "OPTIMIZER_ENABLE_ADAMW",
       {{"OPTIMIZER_MODE_SINGLE", "y"}, {"OPTIMIZER_SELECT_ADAMW", "y"}}},
      {"adamwadv", "OPTIMIZER_ENABLE_ADAMWADV",
       {{"OPTIMIZER_MODE_SINGLE", "y"}, {"OPTIMIZER_SELECT_ADAMWADV", "y"}}},
      {"adamwspam", "OPTIMIZER_ENABLE_ADAMWSPAM",
       {{"OPTIMIZER_MODE_SINGLE", "y"}, {"OPTIMIZER_SELECT_ADAMWSPAM", "y"}}},
      {"adamwprune", "OPTIMIZER_ENABLE_ADAMWPRUNE",
       {{"OPTIMIZER_MODE_SINGLE", "y"}, {"OPTIMIZER_SELECT_ADAMWPRUNE", "y"}}},
    }},
    {"pruning method", "PRUNING_MODE_MULTIPLE", true, {
      {"none", "PRUNING_ENABLE_NONE", {{"PRUNING_MODE_NONE", "y"}}},
      {"magnitude", "PRUNING_ENABLE_MAGNITUDE",
       {{"PRUNING_MODE_SINGLE", "y"}, {"PRUNING_SELECT_MAGNITUDE", "y"}}},
      {"movement", "PRUNING_ENABLE_MOVEMENT",
       {{"PRUNING_MODE_SINGLE", "y"}, {"PRUNING_SELECT_MOVEMENT", "y"}}},
      {"state", "PRUNING_ENABLE_STATE",
       {{"PRUNING_MODE_SINGLE", "y"}, {"PRUNING_SELECT_STATE", "y"}}},
    }},
    {"sparsity", "PRUNING_MODE_MULTIPLE", false, {
      {"50", "SPARSITY_ENABLE_50",
       {{"TARGET_SPARSITY", "0.5"}, {"ADAMWPRUNE_TARGET_SPARSITY", "0.5"}}},
      {"70", "SPARSITY_ENABLE_70",
       {{"TARGET_SPARSITY", "0.7"}, {"ADAMWPRUNE_TARGET_SPARSITY", "0.7"}}},
      {"90", "SPARSITY_ENABLE_90",
       {{"TARGET_SPARSITY", "0.9"}, {"ADAMWPRUNE_TARGET_SPARSITY", "0.9"}}},
      {"95", "SPARSITY_ENABLE_95",
       {{"TARGET_SPARSITY", "0.95"}, {"ADAMWPRUNE_TARGET_SPARSITY", "0.95"}}},
      {"99", "SPARSITY_ENABLE_99",
       {{"TARGET_SPARSITY", "0.99"}, {"ADAMWPRUNE_TARGET_SPARSITY", "0.99"}}},
    }},
    {"AdamWPrune variant", "PRUNING_MODE_MULTIPLE", false, {
      {"bitter0", "ADAMWPRUNE_VARIANT_ENABLE_BITTER0", {{"ADAMWPRUNE_VARIANT_BITTER0", "y"}}},
      {"bitter1", "ADAMWPRUNE_VARIANT_ENABLE_BITTER1", {{"ADAMWPRUNE_VARIANT_BITTER1", "y"}}},
      {"bitter2", "ADAMWPRUNE_VARIANT_ENABLE_BITTER2", {{"ADAMWPRUNE_VARIANT_BITTER2", "y"}}},
      {"bitter3", "ADAMWPRUNE_VARIANT_ENABLE_BITTER3", {{"ADAMWPRUNE_VARIANT_BITTER3", "y"}}},
      {"bitter4", "ADAMWPRUNE_VARIANT_ENABLE_BITTER4", {{"ADAMWPRUNE_VARIANT_BITTER4", "y"}}},
      {"bitter5", "ADAMWPRUNE_VARIANT_ENABLE_BITTER5", {{"ADAMWPRUNE_VARIANT_BITTER5", "y"}}},
      {"bitter6", "ADAMWPRUNE_VARIANT_ENABLE_BITTER6", {{"ADAMWPRUNE_VARIANT_BITTER6", "y"}}},
      {"bitter7", "ADAMWPRUNE_VARIANT_ENABLE_BITTER7", {{"ADAMWPRUNE_VARIANT_BITTER7", "y"}}},
      {"bitter8", "ADAMWPRUNE_VARIANT_ENABLE_BITTER8", {{"ADAMWPRUNE_VARIANT_BITTER8", "y"}}},
      {"bitter9", "ADAMWPRUNE_VARIANT_ENABLE_BITTER9", {{"ADAMWPRUNE_VARIANT_BITTER9", "y"}}},
    }},
};
// clang-format on

// The seeds of MATRIX_SEEDS ("1, 2,3"); empty when it is empty.
std::vector<int64_t> parse_seeds(const Config& cfg) {
  const std::string text = cfg.get_string("MATRIX_SEEDS", "");
  std::vector<int64_t> seeds;
  if (text.find_first_not_of(" \t") == std::string::npos) return seeds;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, end - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    int64_t v = -1;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    KNLP_CHECK_INPUT(ec == std::errc() && p == item.data() + item.size() && !item.empty() &&
                         v >= 0 && v <= 2147483647,
                     "CONFIG_MATRIX_SEEDS",
                     "'{}' in \"{}\" is not a seed; accepted: integers 0..2147483647, "
                     "comma-separated (\"1,2,3\")",
                     item, text);
    KNLP_CHECK_INPUT(std::find(seeds.begin(), seeds.end(), v) == seeds.end(), "CONFIG_MATRIX_SEEDS",
                     "seed {} is listed twice in \"{}\"", v, text);
    seeds.push_back(v);
    start = end + 1;
  }
  return seeds;
}

// The cells of one dimension this .config lists; one empty cell when the
// dimension is not a list here (or an optional one lists nothing).
std::vector<const Cell*> listed_cells(const Config& cfg, const Dimension& dim) {
  std::vector<const Cell*> cells;
  if (!cfg.get_bool(dim.multiple)) return {nullptr};
  std::string names;
  for (const auto& c : dim.cells) {
    if (cfg.get_bool(c.enable)) cells.push_back(&c);
    names += fmt::format("{}CONFIG_{}", names.empty() ? "" : ", ", c.enable);
  }
  KNLP_CHECK_INPUT(!cells.empty() || !dim.required, fmt::format("CONFIG_{}", dim.multiple),
                   "the matrix lists no {}; enable at least one of {}", dim.name, names);
  if (cells.empty()) cells.push_back(nullptr);
  return cells;
}

void append_label(std::string& label, const std::string& part) {
  label += label.empty() ? part : " " + part;
}

}  // namespace

bool is_matrix(const Config& cfg) { return cfg.get_bool("MATRIX"); }

MatrixSettings resolve_matrix(const Config& cfg) {
  MatrixSettings m;
  m.parallel = cfg.get_int("MATRIX_PARALLEL", 1);
  m.output_dir = cfg.get_string("OUTPUT_DIR", "results");
  // Seeds outermost, so that a matrix stopped halfway holds whole sweeps.
  std::vector<MatrixCombination> combos(1);
  const auto seeds = parse_seeds(cfg);
  if (!seeds.empty()) {
    combos.clear();
    for (int64_t seed : seeds) {
      MatrixCombination c;
      c.label = fmt::format("seed{}", seed);
      c.assignments = {
          {"MATRIX_SEEDS", ""}, {"SEED", std::to_string(seed)}, {"MATRIX_SEED_IN_NAME", "y"}};
      combos.push_back(c);
    }
  }
  for (const auto& dim : kDimensions) {
    std::vector<MatrixCombination> next;
    const auto cells = listed_cells(cfg, dim);
    for (const auto& base : combos)
      for (const Cell* cell : cells) {
        MatrixCombination c = base;
        if (cell) {
          append_label(c.label, cell->name);
          if (dim.required) append_label(c.key, cell->name);
          for (const auto& line : cell->select)
            c.assignments.push_back({line.symbol, line.value, dim.required});
        }
        next.push_back(std::move(c));
      }
    combos = std::move(next);
  }
  m.combinations = std::move(combos);
  return m;
}

Config split_threads(const Config& run, int64_t parallel, int64_t all_threads) {
  if (parallel <= 1) return run;
  int64_t threads = run.get_int("TRAIN_THREADS");
  if (threads == 0) threads = all_threads;
  Config out = run;
  out.set(fmt::format("TRAIN_THREADS={}", std::max<int64_t>(1, threads / parallel)));
  return out;
}

}  // namespace knlp
