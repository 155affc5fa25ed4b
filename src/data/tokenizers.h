// data/tokenizers.h - private to data/: the constructors make_tokenizer() looks up.
#pragma once

#include <filesystem>
#include <memory>

#include "data/data.h"  // Tokenizer

namespace knlp {

// GPT-2 byte-level BPE from vocab_dir/encoder.json and vocab_dir/vocab.bpe (bpe.cpp).
std::unique_ptr<Tokenizer> make_gpt2_tokenizer(const std::filesystem::path& vocab_dir);

// One token per byte, vocab 256, eot 0 (tokenizer.cpp); vocab_dir is not read.
std::unique_ptr<Tokenizer> make_byte_tokenizer(const std::filesystem::path& vocab_dir);

}  // namespace knlp
