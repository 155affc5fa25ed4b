// models/models.h - every network behind one interface, built by name.
//
// A model maps a batch to logits and, when targets are given, a loss. It
// knows nothing of optimizers or pruning: those see its parameters only.
// Language models (GPT-2) add incremental decode through per-layer caches,
// sampling, and weights in and out as safetensors with Hugging Face names.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"  // ModelSettings

namespace knlp {

struct Batch {
  torch::Tensor input;   // images (B, C, S, S) or token ids (B, T)
  torch::Tensor target;  // class ids (B) or next-token ids (B, T); undefined for inference
};

struct ModelOutput {
  torch::Tensor logits;  // (B, classes) or (B, T, V)
  torch::Tensor loss;    // mean cross-entropy; undefined when the batch has no target
};

// What a parameter is to the optimizer and the pruner.
struct ParamRole {
  std::string name;     // as named_parameters() names it ("h.0.attn.c_attn.weight")
  torch::Tensor param;
  bool decay = false;     // in the weight-decay group
  bool prunable = false;  // pruning may zero its elements
  ParamClass cls = ParamClass::kOther;  // bitter8/bitter9's structural class
};

struct Model : torch::nn::Module {
  virtual ModelOutput forward(const Batch& batch) = 0;
  // Number of trainable parameters, counting a tied tensor once.
  int64_t num_params() const;
  // Every trainable parameter once (a tied tensor under the first module that
  // owns it), in module order, with its role. The default: weights of two or
  // more dimensions decay unless they belong to a norm or an embedding; Linear
  // and Conv2d weights are prunable; every class is other.
  virtual std::vector<ParamRole> param_roles();
};

// Builds the model the settings name, initialised from the current torch seed.
// Throws Error (exit 2) listing the known models for an unknown name.
std::shared_ptr<Model> make_model(const ModelSettings& settings);

// Names make_model() accepts, in table order.
std::vector<std::string> model_names();

// Mean cross-entropy of logits (..., V) against integer targets (...).
torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& target);

// ---------------------------------------------------------------------------
// Language models and incremental decode

// What one layer keeps of earlier positions while decoding. Each attention
// variant makes its own: per-head keys and values (KVCache), a latent (MLA), ...
class LayerCache {
 public:
  virtual ~LayerCache() = default;
  virtual int64_t bytes() const = 0;  // memory it holds
};

// Per-head keys and values of one layer, the cache standard attention reads. A
// storage format (dense, INT4, ...) is one implementation; attend() lets a format
// compute attention straight from its own layout (a fused dequantizing kernel).
class KVCache : public LayerCache {
 public:
  // Stores the keys and values of the newest Tn positions, (B, H, Tn, D) each.
  virtual void append(const torch::Tensor& k, const torch::Tensor& v) = 0;
  // Scaled dot-product attention of the newest Tn positions' queries (B, H, Tn, D)
  // over every cached position, causal among those Tn (append them first).
  virtual torch::Tensor attend(const torch::Tensor& q) = 0;
  virtual int64_t length() const = 0;  // positions held
};

struct KVShape {
  int64_t batch, heads, head_dim, max_len;
  torch::Device device;
  torch::ScalarType dtype;
};
using KVCacheFactory = std::function<std::unique_ptr<KVCache>(const KVShape&)>;

// Keys and values at full precision in buffers of max_len positions: the reference
// every other format is checked against.
std::unique_ptr<KVCache> make_dense_kv_cache(const KVShape& shape);

// How to build a model's decode cache.
struct CacheSpec {
  int64_t batch = 1;
  int64_t max_len = 0;  // 0 = the model's block size
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat;
  KVCacheFactory kv = make_dense_kv_cache;  // storage of per-head keys and values
};

// The decode state of a whole model: one cache per layer and the positions seen.
struct DecodeCache {
  std::vector<std::unique_ptr<LayerCache>> layers;
  int64_t length = 0;
};

struct LanguageModel : Model {
  // Logits (B, T, V) of ids (B, T) that follow the cache's positions; appends them
  // to the cache. Equals forward() on the whole sequence, position by position.
  virtual torch::Tensor forward_cached(const torch::Tensor& ids, DecodeCache& cache) = 0;
  // An empty decode cache.
  virtual DecodeCache new_cache(const CacheSpec& spec) = 0;
  virtual int64_t block_size() const = 0;
  virtual int64_t vocab_size() const = 0;
  // Training FLOPs per token at full context (forward + backward), for MFU:
  // 6 N + 12 L C T (PaLM appendix B), N without the position embedding.
  virtual double flops_per_token() const = 0;
  // The shape as string pairs ("n_layer": "12", ...), stored beside the weights.
  virtual std::map<std::string, std::string> metadata() const = 0;
};

// make_model() for a model that must be a language model; throws Error otherwise.
std::shared_ptr<LanguageModel> make_language_model(const ModelSettings& settings);

// The named GPT-2 sizes filled in: n_layer, n_head, n_embd of settings.size (or the
// custom ones). Throws Error (exit 2) listing the sizes for an unknown name.
Gpt2Settings gpt2_shape(Gpt2Settings settings);

struct SampleOptions {
  double temperature = 0.8;   // 0 = always the most likely token
  int64_t top_k = 200;        // 0 = the whole vocabulary
  int64_t max_new_tokens = 100;
  int64_t vocab_limit = 0;    // ids >= this (vocabulary padding) are never sampled; 0 = none
  int32_t stop_token = -1;    // stop after sampling it (end of text); -1 = never
  uint64_t seed = 0;
  CacheSpec cache;            // batch and max_len are set by generate()
};

// Continues prompt (at least one id) with up to max_new_tokens sampled ids, decoding
// with the KV cache; when the context fills the block, the oldest half is dropped
// and the rest re-encoded. Returns the new ids only.
std::vector<int32_t> generate(LanguageModel& model, const std::vector<int32_t>& prompt,
                              const SampleOptions& options);

// ---------------------------------------------------------------------------
// Weights as safetensors

struct SafeTensors {
  std::map<std::string, torch::Tensor> tensors;  // float32, CPU
  std::map<std::string, std::string> metadata;
};
// Writes tensors (F32) and string metadata in the safetensors format, atomically.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata);
// Reads a safetensors file (F32, F16, BF16, F64, I64, I32; as float32). Throws Error
// (exit 2) naming the file for a bad header or truncated data.
SafeTensors read_safetensors(const std::filesystem::path& path);

// Writes model's weights under their Hugging Face GPT-2 names (our module names),
// linear weights inside the blocks (h.N.*) transposed to (in, out) as HF's Conv1D
// keeps them, the tied head once (as wte), and metadata() beside them.
void save_weights(LanguageModel& model, const std::filesystem::path& path);
// Loads weights written by save_weights() or Hugging Face's GPT-2 (names with or
// without "transformer.", attention mask buffers ignored). Throws Error (exit 2)
// naming the tensor when one is missing, unknown or of another shape.
void load_weights(LanguageModel& model, const std::filesystem::path& path);
// The shape a weights file holds: layers, width, block, vocabulary, biases and tying
// from its tensors; heads and attention variant from our metadata, else from base.
// Reads the header only. Throws Error (exit 2) when it is not a GPT-2 file.
Gpt2Settings weights_shape(const std::filesystem::path& path, Gpt2Settings base);

}  // namespace knlp
