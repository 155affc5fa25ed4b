// data/data.h - datasets as tensors: idx (MNIST, Fashion-MNIST) and CIFAR-10/100
// binary image sets; tokenizers (GPT-2 byte-level BPE, bytes) and text -> train.bin /
// val.bin; memory-mapped token files for language models.
//
// An image set is loaded whole into memory as normalised float tensors; the
// trainer draws batches from it by index. Token files are memory-mapped and
// sampled as random windows. A missing, truncated or foreign file stops the
// run with one line naming the file and what was expected.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"  // DataSettings

namespace knlp {

struct ImageSet {
  torch::Tensor images;  // (N, C, S, S) float32, normalised
  torch::Tensor labels;  // (N) int64
  int64_t size() const { return labels.size(0); }
};

struct ImageData {
  std::string name;  // "fashion-mnist"
  ImageSet train, test;
  int64_t num_classes = 10, channels = 1, image_size = 32;
  bool augment = false;  // random crop + horizontal flip while training
  torch::Tensor pad_value;  // (C) a black pixel, normalised: what the crop pads with
};

// Reads an idx file (raw or gzipped) into a uint8 tensor shaped as its header says.
// Throws Error (exit 2) for a missing file, a wrong magic number or truncated data.
torch::Tensor read_idx(const std::filesystem::path& path);

// Writes a uint8 tensor as an idx file, gzipped when the name ends in .gz (tests, tools).
void write_idx(const std::filesystem::path& path, const torch::Tensor& data);

// Loads the dataset the settings name, from settings.dir/<name> or its system folder.
// Throws Error (exit 2) listing the known datasets for an unknown name.
ImageData load_images(const DataSettings& settings);

// The folder load_images() reads `name` from: dir/<name> if it exists, else the
// system folder a Debian package installs it in, else dir/<name>.
std::filesystem::path dataset_dir(const DataSettings& settings);

// What a model needs to know of a dataset before loading it.
struct ImageShape {
  int64_t channels, num_classes, image_size;
  int64_t train_images;  // of the full data set (the files may hold fewer)
};
ImageShape image_shape(const DataSettings& settings);

// Random 4-pixel-padded crop and horizontal flip of a batch, drawn from gen. The
// padding is `fill` per channel (ImageData::pad_value), 0 when undefined.
torch::Tensor augment_batch(const torch::Tensor& images, torch::Generator& gen,
                            const torch::Tensor& fill = {});

// ---------------------------------------------------------------------------
// Tokenizers (docs/data.md). decode(encode(s)) == s for every byte string s,
// valid UTF-8 or not. encode() and decode() are safe to call from several threads.

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids of text. gpt2: the literal "<|endoftext|>" becomes eot(), as
  // tiktoken's encode(allowed_special={"<|endoftext|>"}) does; byte: one id per byte.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // The exact bytes of ids; throws Error (exit 2) for an id outside 0..vocab_size()-1.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  virtual int64_t vocab_size() const = 0;  // 50257 for gpt2, 256 for byte
  virtual int32_t eot() const = 0;         // 50256 for gpt2; 0 (the NUL byte) for byte
  virtual std::string name() const = 0;    // "gpt2" | "byte"
};

// Builds the tokenizer by name ("gpt2" reads encoder.json + vocab.bpe from vocab_dir;
// "byte" needs no files). Throws Error (exit 2) naming the file and what is wrong
// when a vocab file is missing or does not parse, or listing the names for an unknown one.
std::unique_ptr<Tokenizer> make_tokenizer(const std::string& name,
                                          const std::filesystem::path& vocab_dir);

// What `knlp data prepare` reads and how it splits it.
struct PrepareOptions {
  std::vector<std::filesystem::path> sources;  // files, folders (walked), *.jsonl[.gz]
  std::filesystem::path out_dir;               // gets train.bin, val.bin, manifest.json
  double val_fraction = 0.1;                   // share of documents in val, 0 < f < 1
  std::string jsonl_field = "text";            // the field of a JSONL line that is the text
  std::vector<std::string> extensions;         // walk keeps only these ("rst"); empty = all
  bool progress = true;                        // progress bar (drawn only on a terminal)
};

struct SplitCounts {
  int64_t documents = 0;
  int64_t tokens = 0;  // eot separators included
  int64_t bytes = 0;   // text bytes of the documents
};

struct PrepareResult {
  SplitCounts train, val;
  int64_t files = 0;           // input files read
  int64_t skipped_empty = 0;   // empty documents, left out
  int64_t skipped_binary = 0;  // walked files holding a NUL byte, left out
  double seconds = 0;
};

// Tokenizes every document of opts.sources (a file, or a JSONL line), sends each
// whole document to train or val by a hash of its bytes, and writes each split as
// uint16 little-endian ids, every document followed by eot (nanoGPT's format),
// plus manifest.json; each file atomically. Throws Error (exit 2) for a missing
// source, a bad JSONL line, a vocab too large for uint16 or an empty split.
PrepareResult prepare_text_data(const PrepareOptions& opts, const Tokenizer& tokenizer);

// ---------------------------------------------------------------------------
// Token files (language models)

// A memory-mapped file of uint16 token ids: nanoGPT's flat train.bin / val.bin, or
// llm.c's format (a header of 256 int32: magic 20240520, version 1, token count).
// Copies share one mapping.
class TokenFile {
 public:
  // Maps path. Throws Error (exit 2) naming it when it is missing, empty, of odd
  // size, or an llm.c file whose header is bad or whose tokens are truncated.
  explicit TokenFile(const std::filesystem::path& path);
  int64_t size() const { return size_; }  // tokens
  const std::filesystem::path& path() const { return path_; }
  int32_t at(int64_t i) const { return data_[i]; }
  // Tokens [start, start + n) as an int64 tensor (n).
  torch::Tensor slice(int64_t start, int64_t n) const;
  // `batch` windows of block + 1 tokens at starts drawn uniformly from gen: inputs
  // (B, T) and their next tokens (B, T), int64. Throws when the file is too short.
  std::pair<torch::Tensor, torch::Tensor> sample(int64_t batch, int64_t block,
                                                 torch::Generator& gen) const;
  // How often each id occurs: counts[id], over ids up to the largest present.
  std::vector<int64_t> counts() const;

 private:
  std::filesystem::path path_;
  std::shared_ptr<const void> mapping_;  // unmaps when the last copy goes
  const uint16_t* data_ = nullptr;
  int64_t size_ = 0;
};

// Writes ids as a nanoGPT-format file (flat uint16), atomically (tests, tools).
void write_token_file(const std::filesystem::path& path, const std::vector<int32_t>& ids);

// A language model's dataset: settings.tokens/{train,val}.bin and what made them.
struct TokenData {
  std::string name;                  // "kernel-docs"
  std::string tokenizer;             // manifest.json's tokenizer.name; "" when unknown
  TokenFile train, val;
};

// Opens the token files of settings.tokens. A missing file is one line naming the
// files expected and the command that prepares them; throws Error (exit 2).
TokenData load_tokens(const DataSettings& settings);

// Cross-entropy (nats per token) on val of the unigram distribution of train, with
// add-one smoothing over vocab_size ids: the loss of a model that ignores context.
double unigram_cross_entropy(const TokenFile& train, const TokenFile& val, int64_t vocab_size);

}  // namespace knlp
