// data/bpe.cpp - GPT-2's byte-level BPE, read from encoder.json + vocab.bpe.
//
// Encoding goes in three steps, as in GPT-2's encoder.py (Radford et al. 2019):
//  1. the literal "<|endoftext|>" is cut out as the special token eot;
//  2. the text between is cut into pieces by GPT-2's pattern
//       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//     written out by hand over UTF-8 code points, with ICU for the classes
//     (\p{L}: general category L*, \p{N}: N*, \s: White_Space);
//  3. the bytes of each piece start as one token each and the adjacent pair
//     with the lowest merge rank is merged until no rule applies.
// A byte that is not part of valid UTF-8 counts as a code point of no class
// (like punctuation, or a lone surrogate after Python's "surrogateescape"),
// so every byte string encodes, and decode() gives the same bytes back.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unicode/uchar.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "data/data.h"
#include "data/tokenizers.h"
#include "util/check.h"
#include "util/fs.h"  // read_file

namespace knlp {

namespace {

constexpr std::string_view kEndOfText = "<|endoftext|>";
constexpr const char* kDownloadUrl =
    "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/";
// Pieces whose merges are remembered; a piece and its ids take about 100 bytes.
constexpr size_t kCacheLimit = size_t{1} << 18;

// ---------------------------------------------------------------------------
// Code points and their classes

enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

CharClass classify(char32_t c) {
  const auto cp = static_cast<UChar32>(c);
  const uint32_t gc = U_GET_GC_MASK(cp);
  if (gc & U_GC_L_MASK) return CharClass::kLetter;
  if (gc & U_GC_N_MASK) return CharClass::kNumber;
  if (u_isUWhiteSpace(cp)) return CharClass::kSpace;
  return CharClass::kOther;
}

const std::array<CharClass, 128> kAsciiClass = [] {
  std::array<CharClass, 128> t{};
  for (char32_t c = 0; c < 128; ++c) t[c] = classify(c);
  return t;
}();

struct CodePoint {
  char32_t value;  // the byte itself when invalid
  uint8_t len;     // bytes it takes, 1..4
  CharClass cls;
  bool valid;
};

// The code point starting at s[i]. A byte that does not start a well-formed
// sequence (stray continuation byte, overlong form, surrogate, above U+10FFFF,
// cut short) is a one-byte code point of class kOther.
CodePoint decode_at(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {b0, 1, kAsciiClass[b0], true};
  const CodePoint invalid{b0, 1, CharClass::kOther, false};
  size_t len;
  char32_t c;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, c = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, c = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, c = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return invalid;
  }
  if (i + len > s.size()) return invalid;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return invalid;
    c = (c << 6) | (b & 0x3F);
  }
  return {c, static_cast<uint8_t>(len), classify(c), true};
}

// End of the run of code points of class cls that starts at s[i].
size_t run_end(std::string_view s, size_t i, CharClass cls) {
  while (i < s.size()) {
    const CodePoint c = decode_at(s, i);
    if (c.cls != cls) break;
    i += c.len;
  }
  return i;
}

// End of the piece that starts at s[i]: the first alternative of GPT-2's
// pattern that matches there, with the regex engine's greedy backtracking.
size_t piece_end(std::string_view s, size_t i) {
  // 's|'t|'re|'ve|'m|'ll|'d
  if (s[i] == '\'' && i + 1 < s.size()) {
    const char a = s[i + 1], b = i + 2 < s.size() ? s[i + 2] : '\0';
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
  }
  // ' ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+': the classes are disjoint, so the
  // first code point that is not the optional space picks the alternative.
  CodePoint c = decode_at(s, i);
  if (c.value == ' ' && i + 1 < s.size()) {
    const CodePoint next = decode_at(s, i + 1);
    if (next.cls != CharClass::kSpace) return run_end(s, i + 1, next.cls);
  }
  if (c.cls != CharClass::kSpace) return run_end(s, i, c.cls);
  // '\s+(?!\S)|\s+': all of a run of white space at the end of the text or
  // before more white space; before anything else, all but its last code point,
  // which then starts the next piece (" word"), unless it is the only one.
  size_t last = i, end = i;
  while (end < s.size() && (c = decode_at(s, end)).cls == CharClass::kSpace) {
    last = end;
    end += c.len;
  }
  return end < s.size() && last > i ? last : end;
}

// ---------------------------------------------------------------------------
// The vocabulary files

// GPT-2 writes each byte of a token as one printable code point: the printable
// Latin-1 bytes '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF as themselves, the
// other 68 as U+0100, U+0101, ... in byte order (bytes_to_unicode in encoder.py).
class ByteChars {
 public:
  ByteChars() {
    from_char_.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      from_char_[printable ? b : next++] = static_cast<int16_t>(b);
    }
  }

  // The bytes a token string of encoder.json / vocab.bpe stands for, or the
  // first code point that is not one of the 256 byte characters.
  std::optional<std::string> to_bytes(std::string_view chars, char32_t& bad) const {
    std::string out;
    for (size_t i = 0; i < chars.size();) {
      const CodePoint c = decode_at(chars, i);
      if (!c.valid || c.value >= from_char_.size() || from_char_[c.value] < 0) {
        bad = c.value;
        return std::nullopt;
      }
      out += static_cast<char>(from_char_[c.value]);
      i += c.len;
    }
    return out;
  }

 private:
  std::array<int16_t, 256 + 68> from_char_;
};

std::string missing_file_message(const std::string& name) {
  return fmt::format("missing; download it from {}{} into this folder (docs/data.md)",
                     kDownloadUrl, name);
}

uint64_t pair_key(int32_t left, int32_t right) {
  return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
}

// ---------------------------------------------------------------------------
// The tokenizer

class Gpt2Tokenizer final : public Tokenizer {
 public:
  explicit Gpt2Tokenizer(const std::filesystem::path& dir) {
    const ByteChars chars;
    read_encoder(dir / "encoder.json", chars);
    read_merges(dir / "vocab.bpe", chars);
    spdlog::debug("gpt2 tokenizer: {} tokens, {} merges from {}", tokens_.size(),
                  merges_.size(), dir.string());
  }

  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 4 + 1);
    for (;;) {
      const size_t special = text.find(kEndOfText);
      const std::string_view ordinary = text.substr(0, special);
      for (size_t i = 0; i < ordinary.size();) {
        const size_t end = piece_end(ordinary, i);
        encode_piece(ordinary.substr(i, end - i), ids);
        i = end;
      }
      if (special == std::string_view::npos) return ids;
      ids.push_back(eot_);
      text.remove_prefix(special + kEndOfText.size());
    }
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string out;
    for (int32_t id : ids) {
      KNLP_CHECK_INPUT(id >= 0 && id < vocab_size(), "tokenizer",
                       "gpt2 tokenizer: token id {} outside 0..{}", id, vocab_size() - 1);
      out += tokens_[static_cast<size_t>(id)];
    }
    return out;
  }

  int64_t vocab_size() const override { return static_cast<int64_t>(tokens_.size()); }
  int32_t eot() const override { return eot_; }
  std::string name() const override { return "gpt2"; }

 private:
  struct Merge {
    int32_t rank;  // line of vocab.bpe, from 0: lower merges first
    int32_t id;    // the token the pair becomes
  };

  // encoder.json: {"token string": id, ...}, ids 0..N-1 each used once.
  void read_encoder(const std::filesystem::path& path, const ByteChars& chars) {
    const std::string where = path.string();
    if (!std::filesystem::exists(path)) raise_at(where, "tokenizer", missing_file_message("encoder.json"));
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
      raise_at(where, "tokenizer", fmt::format("not valid JSON: {}", e.what()));
    }
    if (!doc.is_object() || doc.empty())
      raise_at(where, "tokenizer", "expected a JSON object of token string -> id");
    tokens_.assign(doc.size(), std::string());
    std::vector<bool> seen(doc.size(), false);
    for (const auto& [key, value] : doc.items()) {
      const int64_t n = static_cast<int64_t>(doc.size());
      if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() >= n)
        raise_at(where, "tokenizer",
                 fmt::format("token \"{}\": id {} is not an integer in 0..{}", key, value.dump(),
                             n - 1));
      const auto id = value.get<int32_t>();
      char32_t bad = 0;
      auto bytes = chars.to_bytes(key, bad);
      if (!bytes)
        raise_at(where, "tokenizer",
                 fmt::format("token \"{}\": U+{:04X} is not one of GPT-2's 256 byte characters",
                             key, static_cast<uint32_t>(bad)));
      if (seen[id])
        raise_at(where, "tokenizer", fmt::format("id {} is given to two tokens", id));
      seen[id] = true;
      ids_.emplace(*bytes, id);
      tokens_[id] = std::move(*bytes);
    }
    for (int b = 0; b < 256; ++b) {
      auto it = ids_.find(std::string(1, static_cast<char>(b)));
      if (it == ids_.end())
        raise_at(where, "tokenizer", fmt::format("no token for the single byte 0x{:02x}", b));
      byte_ids_[b] = it->second;
    }
    auto eot = ids_.find(std::string(kEndOfText));
    if (eot == ids_.end())
      raise_at(where, "tokenizer", fmt::format("no \"{}\" token", kEndOfText));
    eot_ = eot->second;
  }

  // vocab.bpe: "#version: 0.2", then one merge per line, "left right", by rank.
  void read_merges(const std::filesystem::path& path, const ByteChars& chars) {
    if (!std::filesystem::exists(path))
      raise_at(path.string(), "tokenizer", missing_file_message("vocab.bpe"));
    const std::string text = read_file(path);
    std::string_view rest = text;
    int32_t rank = 0;
    for (int64_t lineno = 1; !rest.empty(); ++lineno) {
      std::string_view line = rest.substr(0, rest.find('\n'));
      rest.remove_prefix(std::min(rest.size(), line.size() + 1));
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty() || (lineno == 1 && line.rfind("#version", 0) == 0)) continue;
      const std::string where = fmt::format("{}:{}", path.string(), lineno);
      const size_t sp = line.find(' ');
      if (sp == 0 || sp == std::string_view::npos || sp + 1 == line.size() ||
          line.find(' ', sp + 1) != std::string_view::npos)
        raise_at(where, "tokenizer",
                 fmt::format("expected two tokens separated by one space, got \"{}\"",
                             line.substr(0, 80)));
      const int32_t left = merge_part(line.substr(0, sp), chars, where);
      const int32_t right = merge_part(line.substr(sp + 1), chars, where);
      auto merged = ids_.find(tokens_[left] + tokens_[right]);
      if (merged == ids_.end())
        raise_at(where, "tokenizer",
                 fmt::format("the merge \"{}\" is not a token of encoder.json", line));
      merges_.emplace(pair_key(left, right), Merge{rank++, merged->second});
    }
    if (merges_.empty()) raise_at(path.string(), "tokenizer", "no merge rules");
  }

  int32_t merge_part(std::string_view part, const ByteChars& chars, const std::string& where) {
    char32_t bad = 0;
    auto bytes = chars.to_bytes(part, bad);
    auto it = bytes ? ids_.find(*bytes) : ids_.end();
    if (it == ids_.end())
      raise_at(where, "tokenizer",
               fmt::format("\"{}\" is not a token of encoder.json", part));
    return it->second;
  }

  // Appends the ids of one piece, from the cache when it was seen before.
  void encode_piece(std::string_view piece, std::vector<int32_t>& ids) const {
    if (piece.size() == 1) {
      ids.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
      return;
    }
    std::string key(piece);
    {
      std::lock_guard<std::mutex> lock(cache_mutex_);
      auto it = cache_.find(key);
      if (it != cache_.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int32_t> merged = merge(piece);
    ids.insert(ids.end(), merged.begin(), merged.end());
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kCacheLimit) cache_.clear();
    cache_.emplace(std::move(key), std::move(merged));
  }

  // GPT-2's merge loop: merge the adjacent pair of lowest rank (the leftmost
  // of equals) until none has a rank. The symbols form a linked list over the
  // piece and candidate pairs wait in a min-heap, so a long piece costs
  // O(n log n); a popped pair whose symbols changed since its push is skipped.
  std::vector<int32_t> merge(std::string_view piece) const {
    struct Symbol {
      int32_t id, prev, next;  // id -1: merged into its left neighbour
    };
    struct Pair {
      int32_t rank, left, right, left_id, right_id, merged_id;
    };
    const auto n = static_cast<int32_t>(piece.size());
    std::vector<Symbol> sym(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i)
      sym[i] = {byte_ids_[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};
    const auto later = [](const Pair& a, const Pair& b) {
      return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
    };
    std::vector<Pair> heap;
    const auto push = [&](int32_t l, int32_t r) {
      if (l < 0 || r < 0) return;
      auto it = merges_.find(pair_key(sym[l].id, sym[r].id));
      if (it == merges_.end()) return;
      heap.push_back({it->second.rank, l, r, sym[l].id, sym[r].id, it->second.id});
      std::push_heap(heap.begin(), heap.end(), later);
    };
    for (int32_t i = 0; i + 1 < n; ++i) push(i, i + 1);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), later);
      const Pair p = heap.back();
      heap.pop_back();
      Symbol& l = sym[p.left];
      Symbol& r = sym[p.right];
      if (l.id != p.left_id || r.id != p.right_id || l.next != p.right) continue;
      l.id = p.merged_id;
      l.next = r.next;
      if (r.next >= 0) sym[r.next].prev = p.left;
      r.id = -1;
      push(l.prev, p.left);
      push(p.left, l.next);
    }
    std::vector<int32_t> out;
    for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
    return out;
  }

  std::vector<std::string> tokens_;                  // id -> bytes
  std::unordered_map<std::string, int32_t> ids_;     // bytes -> id
  std::array<int32_t, 256> byte_ids_{};              // byte -> id of its one-byte token
  std::unordered_map<uint64_t, Merge> merges_;       // pair_key(left, right) -> merge
  int32_t eot_ = 0;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;  // piece -> ids
};

}  // namespace

std::unique_ptr<Tokenizer> make_gpt2_tokenizer(const std::filesystem::path& vocab_dir) {
  return std::make_unique<Gpt2Tokenizer>(vocab_dir);
}

}  // namespace knlp
