// config/config.h - the .config reader and the typed settings every module takes.
//
// Only this module reads .config, the environment and --set overrides. It
// checks every line against the symbol table generated from Kconfig (name,
// type, range), so a typo or an out-of-range value stops the run with one
// line naming the file, the line and the symbol. resolve() then turns the
// symbols into plain structs; nothing below this module sees a symbol name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace knlp {

// ---------------------------------------------------------------------------
// Symbols and the .config file

enum class SymbolType { kBool, kInt, kString };

struct SymbolInfo {
  std::string_view name;  // without the CONFIG_ prefix
  SymbolType type;
  int64_t min, max;       // range for ints; min > max when none
};

// The symbol declared in Kconfig under this name (without CONFIG_), or nullptr.
const SymbolInfo* find_symbol(std::string_view name);

// Every symbol declared in Kconfig, as generated at build time.
std::vector<SymbolInfo> all_symbols();

class Config {
 public:
  // Parses .config text; origin ("path") names it in errors. Throws Error (exit 2)
  // on a malformed line, an undeclared symbol, a wrong type or an out-of-range value.
  static Config parse(const std::string& text, const std::string& origin);
  // Reads and parses a .config file.
  static Config load(const std::filesystem::path& path);

  // Applies "SYMBOL=value" (CONFIG_ prefix optional) as if it were a .config line;
  // returns the line it now holds ("CONFIG_NUM_EPOCHS=2"). Throws like parse().
  std::string set(const std::string& assignment);

  bool has(std::string_view sym) const;
  // A bool symbol; absent or "n" is false.
  bool get_bool(std::string_view sym) const;
  // An int symbol; without a fallback, absence is an error naming the symbol.
  int64_t get_int(std::string_view sym) const;
  int64_t get_int(std::string_view sym, int64_t fallback) const;
  // A float held in a string symbol ("0.001"); an unparsable value is an error.
  double get_float(std::string_view sym) const;
  double get_float(std::string_view sym, double fallback) const;
  std::string get_string(std::string_view sym) const;
  std::string get_string(std::string_view sym, const std::string& fallback) const;

  // The canonical .config text (one CONFIG_X=value per line, file order).
  std::string text() const;
  // A stable 16-hex-digit hash of text(), naming this exact configuration.
  std::string hash() const;
  const std::string& origin() const { return origin_; }

 private:
  struct Entry {
    std::string value;  // raw: y, 42, or the unquoted string
    int line;
  };
  const Entry* find(std::string_view sym) const;
  void assign(const std::string& name, const std::string& raw, const std::string& where);

  std::string origin_;
  std::vector<std::string> order_;
  std::map<std::string, Entry, std::less<>> entries_;
};

// ---------------------------------------------------------------------------
// Typed settings, one struct per module that consumes them.

struct DataSettings {
  std::string dataset = "fashion-mnist";  // fashion-mnist | mnist | cifar10 | cifar100
  std::filesystem::path dir;              // folder holding the dataset's files
  bool augment = false;                   // random crop + flip (CIFAR-style)
  std::filesystem::path tokens;           // language models: folder of train.bin, val.bin
};

// The shape of a GPT-2 (models/gpt2.cpp); later attention variants add their knobs here.
struct Gpt2Settings {
  std::string size = "gpt2";      // gpt2 | gpt2-medium | gpt2-large | gpt2-xl | custom
  int64_t n_layer = 12;           // custom size only; named sizes come from gpt2.cpp's table
  int64_t n_head = 12;
  int64_t n_embd = 768;
  int64_t block_size = 1024;      // context length T
  int64_t vocab_size = 50304;     // 50257 GPT-2 tokens padded to a multiple of 64
  double dropout = 0.1;
  bool bias = true;               // in Linear and LayerNorm
  bool weight_tying = true;       // lm_head shares wte's matrix
  std::string attention = "mha";  // attention variant, a row of gpt2.cpp's kAttention
  std::string mlp = "mlp";        // MLP variant (mlp | rmlp), a row of gpt2.cpp's kMlp
  int64_t ra_layers = 3;          // RA: the middle layers with a reciprocal branch
  int64_t ra_heads = 1;           // RA: reciprocal heads per RA layer (the last ones)
  int64_t ra_recip_dim = 4;       // folded RA: channels R of each head's reciprocal score
  int64_t mla_latent = 256;       // MLA: latent channels cached per token and layer
  int64_t kvsplice_dim = 128;     // KVSplice: the compressed latent cached instead
  int64_t kvsplice_layers = 4;    // KVSplice: the last N layers compress, the rest are MLA
  int64_t rmlp_dim = 64;          // R-MLP: hidden channels that also see the attention (R_ff)
  bool ratio = false;             // RATIO: MLP width 2.5x attention weights / 2C, 64-multiple
};

// Turns text into token ids (data/data.h make_tokenizer; docs/data.md).
struct TokenizerSettings {
  std::string name = "gpt2";                      // gpt2 | byte
  std::filesystem::path vocab_dir = "data/gpt2";  // encoder.json + vocab.bpe (gpt2 only)
};

struct ModelSettings {
  std::string name = "lenet5";  // lenet5 | resnet18 | resnet50 | gpt2
  int64_t num_classes = 10;
  int64_t in_channels = 1;      // 1 for (Fashion-)MNIST, 3 for CIFAR
  int64_t image_size = 32;      // side of the square input the model sees
  Gpt2Settings gpt2;            // name == "gpt2"
  std::string stem = "cifar";   // ResNet: cifar (3x3 conv) | imagenet (7x7/2 conv + max-pool)
  int64_t input_size = 0;       // ResNet: resize inputs to this side first (0: as they come)
};

// knlp's SPAM (AdamWSpam, and AdamWPrune on it): what step() does to the
// gradients and moments before the Adam update (docs/optimizers.md).
struct SpamSettings {
  bool enabled = false;          // run the spike processing in step()
  bool clip = true;              // clip each |g| to sqrt(theta * v) of the previous step
  double theta = 50.0;           // the clip factor
  double spike_threshold = 2.0;  // z-score of the global grad norm that soft-resets m, v
  int64_t interval = 0;          // zero m and v every N steps; 0 = never (usual: 1000)
  int64_t warmup_steps = 0;      // cosine LR warmup after each reset; 0 = none (usual: 100)
  double grad_clip = 0.0;        // global L2 norm clip after the spike processing; 0 = off
};

struct OptimSettings {
  std::string name = "adamw";  // sgd | adam | adamw | adamwadv | adamwspam | adamwprune
  std::string base = "adamw";  // what AdamWPrune runs (adam .. adamwspam); = name otherwise
  double lr = 1e-3;
  double weight_decay = 0.0;   // decay group only; biases and norms get 0
  double momentum = 0.9;       // SGD
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam family
  bool amsgrad = false;        // divide by max(v) so far (AdamWAdv/Spam/Prune)
  bool decoupled_decay = true;  // AdamW decay; false: L2 added to the gradient (Adam)
  SpamSettings spam;
};

// The structural class of a parameter, declared by the model that owns it
// (Model::param_roles): what bitter8/bitter9 weight its score by.
enum class ParamClass { kAttention, kMlp, kCoupling, kOther };

// bitter8/bitter9 multiply a parameter's score by the weight of its class.
struct StructuralWeights {
  double attention = 2.5;  // GPT-2 attention: c_attn, c_proj, MLA's latents, ...
  double mlp = 1.0;        // GPT-2 feed-forward: c_fc, c_proj
  double coupling = 3.0;   // what couples attention and MLP (RA's and R-MLP's reciprocal parts)
  double other = 1.0;      // everything else (all CNN layers)
  double of(ParamClass c) const {
    switch (c) {
      case ParamClass::kAttention: return attention;
      case ParamClass::kMlp: return mlp;
      case ParamClass::kCoupling: return coupling;
      case ParamClass::kOther: break;
    }
    return other;
  }
};

struct PruneSettings {
  std::string method = "none";      // none | magnitude | movement | state
  std::string variant = "bitter0";  // state: the AdamWPrune score, bitter0..bitter9
  double target_sparsity = 0.0;     // final fraction of prunable weights that are zero
  int64_t warmup_steps = 100;       // no pruning through this step
  int64_t frequency = 50;           // masks are recomputed every N steps
  int64_t ramp_end_step = 3000;     // the target is reached at this optimizer step
  int64_t ramp_end_epoch = 0;       // image models: ... at the end of this epoch (0: in steps);
                                    // the loop turns it into ramp_end_step once
  std::string schedule = "cubic";   // cubic (s_f p^3) | zhu-gupta | linear
  std::string threshold = "exact";  // exact (k = floor(s N) pruned) | sampled
  double sample_fraction = 0.02;    // sampled: share of the scores the estimate sees
  StructuralWeights weights;        // bitter8, bitter9
};

// What the one training loop (train/loop.cpp) runs: everything counts in
// optimizer steps; epochs are how image models *say* a number of steps.
struct TrainSettings {
  std::string task = "image-classification";  // image-classification | language-model
  int64_t epochs = 10;                // image models: passes over the training split
  int64_t max_steps = 0;              // language models: optimizer steps (epochs x steps
                                      // per epoch for image models, set by the loop)
  int64_t max_time_s = 0;             // training-time budget; 0 = none
  int64_t validation_images = 5000;   // image models: training images held out to select on
  int64_t batch_size = 512;
  int64_t eval_batch_size = 1024;
  uint64_t seed = 42;
  std::string device = "cpu";      // cpu | cuda
  int64_t threads = 0;             // intra-op threads; 0 = LibTorch's default
  std::filesystem::path output_dir = "results";
  int64_t checkpoint_interval = 0;  // also checkpoint every N steps; 0 = at evaluations only
  std::string log_level = "info";
  int64_t warmup_steps = 0;              // learning rate rises linearly from 0 over these
  std::string lr_schedule = "constant";  // constant | cosine (over the run's steps)
  double lr_min = 0.0;                   // floor of the cosine schedule
  double grad_clip = 0.0;                // global L2 norm clip by the loop; 0 = off (an
                                         // optimizer with SPAM clips inside its step)
  int64_t gradient_accumulation = 1;     // micro-batches per optimizer step
  int64_t log_interval = 10;             // steps per train metrics point
  std::string amp_dtype;                 // "bfloat16": autocast on CUDA; "" = fp32
  bool seed_in_name = false;             // a repeat of a matrix: the run name ends in _seed<N>
};

// The language-modelling task (train/lm_task.cpp).
struct LmSettings {
  int64_t eval_interval = 100;        // steps between validation passes
  int64_t eval_samples = 200;         // batches per validation pass
  bool tf32 = true;                   // TF32 matmuls on CUDA
  std::filesystem::path init_from;    // safetensors weights to start from; empty = random
};

// Defaults of `knlp generate` (sampling from a trained language model).
struct GenerateSettings {
  double temperature = 0.8;      // 0 = greedy
  int64_t top_k = 200;           // 0 = the whole vocabulary
  int64_t max_new_tokens = 500;
};

struct KvSettings {
  std::string k_format = "int8";  // fp32 | bf16 | int8 | int4 (kv/kv.h KvFormat)
  std::string v_format = "int4";
  bool fused = true;              // fused decode kernel; false: dequantize + torch attention
};

struct RunSettings {
  DataSettings data;
  ModelSettings model;
  OptimSettings optim;
  PruneSettings prune;
  TrainSettings train;
  TokenizerSettings tokenizer;
  KvSettings kv;
  LmSettings lm;
  GenerateSettings generate;
};

// Resolves a .config into the settings of one run; throws Error (exit 2) naming the
// symbol when a value is inconsistent (a float that does not parse, no model chosen)
// or when the .config is a test matrix.
RunSettings resolve(const Config& cfg);

// The tokenizer of a .config (GPT2_TOKENIZER, GPT2_VOCAB_DIR; the defaults above where
// absent); a non-empty KNLP_VOCAB_DIR in the environment overrides GPT2_VOCAB_DIR.
TokenizerSettings resolve_tokenizer(const Config& cfg);

// The GPT-2 part of resolve() (resolve_gpt2.cpp): model shape, data folder, trainer
// and sampling settings, when MODEL is "gpt2".
void resolve_gpt2(const Config& cfg, RunSettings& s);
// The attention and MLP variant of GPT-2 (Kconfig.attention) into s.model.gpt2.
void resolve_attention(const Config& cfg, Gpt2Settings& g);

// The pruning part of resolve() (resolve_prune.cpp); in_steps: the ramp end is a
// step symbol (language models), else an epoch symbol (image models).
PruneSettings resolve_prune(const Config& cfg, bool in_steps);

// The ResNet part of resolve(): augmentation, LR schedule, stem, input size
// (resolve_resnet.cpp); leaves other models' settings alone.
void resolve_resnet(const Config& cfg, RunSettings& settings);

// The symbol holding the target sparsity of a pruning method: TARGET_SPARSITY, or
// ADAMWPRUNE_TARGET_SPARSITY for state, "" for none; an unknown method is an Error.
// The test matrix sets it for each sparsity.
std::string target_sparsity_symbol(const std::string& method);
// The symbol holding a pruning method's ramp end: *_RAMP_END_EPOCH for image
// models (in_epochs), *_RAMP_END_STEP for language models.
std::string ramp_end_symbol(const std::string& method, bool in_epochs);

// The KV cache settings alone (resolve_kv.cpp); a .config without the KV
// symbols (an older one) gets the defaults above.
KvSettings resolve_kv(const Config& cfg);

// ---------------------------------------------------------------------------
// Test matrix: a .config whose *_MODE_MULTIPLE symbols or MATRIX_SEEDS list several
// runs. resolve_matrix() lists its combinations as symbols to set; the matrix module
// has kconfiglib apply them (scripts/kconfig.py expand), which turns each into the
// .config of one run, and names that run with train's run_name().

// One line a combination sets: SYMBOL (without CONFIG_) = value (strings unquoted).
struct MatrixAssignment {
  std::string symbol, value;
  bool required = true;  // Kconfig must keep it, or the combination is no valid run
};

// One cell of the matrix, before Kconfig has seen it.
struct MatrixCombination {
  std::string label;  // its values, "seed1 lenet5 sgd magnitude 70", for messages
  std::string key;    // the values of the required dimensions only, "lenet5 sgd magnitude"
  std::vector<MatrixAssignment> assignments;
};

struct MatrixSettings {
  std::vector<MatrixCombination> combinations;  // in run order; a single run has one, empty
  int64_t parallel = 1;                          // runs at a time (MATRIX_PARALLEL)
  std::filesystem::path output_dir = "results";  // matrices go to <output_dir>/matrix-<time>
};

// Whether cfg describes a test matrix rather than one run.
bool is_matrix(const Config& cfg);

// The combinations of a normalised .config, in run order: seeds outermost, then
// models, optimizers, pruning methods, sparsities, AdamWPrune variants. Throws Error
// (exit 2) naming the symbol when a multiple mode enables nothing or MATRIX_SEEDS is
// not a list of distinct seeds.
MatrixSettings resolve_matrix(const Config& cfg);

// The .config of one run of a matrix that trains `parallel` runs at once: its
// TRAIN_THREADS (all_threads when 0) split evenly, at least 1; as is for parallel 1.
Config split_threads(const Config& run, int64_t parallel, int64_t all_threads);

}  // namespace knlp
