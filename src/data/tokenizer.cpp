// data/tokenizer.cpp - the tokenizer table and the byte tokenizer.
#include <fmt/format.h>

#include "data/data.h"
#include "data/tokenizers.h"
#include "util/check.h"
#include "util/registry.h"  // find_row, accepted_names

namespace knlp {

namespace {

// Each byte is its own token: no files, nothing to learn, 4x longer sequences
// than GPT-2's BPE on English. eot is 0, the NUL byte, which text never holds.
class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int32_t> ids(text.size());
    for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
    return ids;
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string out(ids.size(), '\0');
    for (size_t i = 0; i < ids.size(); ++i) {
      KNLP_CHECK_INPUT(ids[i] >= 0 && ids[i] < 256, "tokenizer",
                       "byte tokenizer: token id {} outside 0..255", ids[i]);
      out[i] = static_cast<char>(ids[i]);
    }
    return out;
  }

  int64_t vocab_size() const override { return 256; }
  int32_t eot() const override { return 0; }
  std::string name() const override { return "byte"; }
};

struct TokenizerEntry {
  const char* name;
  std::unique_ptr<Tokenizer> (*make)(const std::filesystem::path& vocab_dir);
};

constexpr TokenizerEntry kTokenizers[] = {
    {"gpt2", make_gpt2_tokenizer},
    {"byte", make_byte_tokenizer},
};

}  // namespace

std::unique_ptr<Tokenizer> make_byte_tokenizer(const std::filesystem::path& /*vocab_dir*/) {
  return std::make_unique<ByteTokenizer>();
}

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& name,
                                          const std::filesystem::path& vocab_dir) {
  if (const auto* t = find_row(kTokenizers, name)) return t->make(vocab_dir);
  raise(__FILE__, __LINE__, "tokenizer",
        fmt::format("unknown tokenizer '{}'; accepted: {}", name, accepted_names(kTokenizers)),
        ExitCode::kBadInput);
}

}  // namespace knlp
