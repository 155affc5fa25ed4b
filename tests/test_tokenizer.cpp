// Tokenizers: GPT-2 BPE against known encodings, the merge rules on a tiny
// hand-made vocabulary, byte-exact round trips of any bytes, vocab errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <random>
#include <thread>

#include "data/data.h"
#include "fixtures.h"
#include "util/check.h"

namespace {

using Ids = std::vector<int32_t>;

// The GPT-2 tokenizer from the shared vocabulary, loaded once for all tests.
const knlp::Tokenizer* gpt2() {
  static const std::unique_ptr<knlp::Tokenizer> tok = [] {
    auto dir = knlp::test::shared_gpt2_vocab();
    return dir.empty() ? nullptr : knlp::make_tokenizer("gpt2", dir);
  }();
  return tok.get();
}

#define REQUIRE_GPT2()                                                                    \
  if (!gpt2())                                                                            \
  GTEST_SKIP() << "no GPT-2 vocabulary at $KNLP_SOURCE_DIR/../shared/data/gpt2 "          \
                  "(encoder.json, vocab.bpe): skipping"

void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// GPT-2's printable stand-in for byte b, as UTF-8 (encoder.py's bytes_to_unicode):
// printable Latin-1 bytes stand for themselves, the other 68 for U+0100 + their index.
std::string byte_char(int b) {
  int cp = b, extra = 0;
  const auto printable = [](int x) {
    return (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
  };
  if (!printable(b)) {
    for (int x = 0; x < b; ++x) extra += !printable(x);
    cp = 256 + extra;
  }
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

// A vocabulary of the 256 bytes (ids = byte values), one token per merge (ids
// 256, 257, ... in merge order) and <|endoftext|> last; merges of ASCII tokens.
std::filesystem::path write_tiny_vocab(const std::string& tag,
                                       const std::vector<std::pair<std::string, std::string>>& merges) {
  auto dir = knlp::test::temp_dir(tag);
  nlohmann::json enc = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) enc[byte_char(b)] = b;
  std::string bpe = "#version: 0.2\n";
  int id = 256;
  for (const auto& [l, r] : merges) {
    enc[l + r] = id++;
    bpe += l + " " + r + "\n";
  }
  enc["<|endoftext|>"] = id;
  write_file(dir / "encoder.json", enc.dump());
  write_file(dir / "vocab.bpe", bpe);
  return dir;
}

std::string error_of(const std::string& name, const std::filesystem::path& dir) {
  try {
    knlp::make_tokenizer(name, dir);
  } catch (const knlp::Error& e) {
    EXPECT_EQ(e.code(), knlp::ExitCode::kBadInput);
    return e.line();
  }
  return "";
}

// A random string of code points drawn from ASCII, Latin-1, Greek, CJK, emoji,
// combining marks and white space of every kind, encoded as UTF-8.
std::string random_utf8(std::mt19937& rng, size_t n) {
  static const std::pair<char32_t, char32_t> kRanges[] = {
      {0x20, 0x7E}, {0x20, 0x7E}, {0x30, 0x39}, {0x09, 0x0D}, {0xA0, 0xFF}, {0x370, 0x3FF},
      {0x300, 0x36F}, {0x4E00, 0x4FFF}, {0x1F600, 0x1F64F}, {0x2000, 0x200A}, {0x3000, 0x3000}};
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    const auto& [lo, hi] = kRanges[rng() % std::size(kRanges)];
    const char32_t c = lo + rng() % (hi - lo + 1);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

void expect_round_trip(const knlp::Tokenizer& tok, const std::string& text) {
  const Ids ids = tok.encode(text);
  for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size()) << id;
  ASSERT_EQ(tok.decode(ids), text);
}

}  // namespace

// Expected ids: the README of the vocabulary (the first three) and tiktoken 0.14,
// an independent implementation, given the same encoder.json and GPT-2's pattern
// (tiktoken.Encoding(pat_str=..., mergeable_ranks=...), encode(allowed_special="all")).
TEST(Gpt2Tokenizer, MatchesKnownEncodings) {
  REQUIRE_GPT2();
  const std::pair<std::string, Ids> cases[] = {
      {"Hello world", {15496, 995}},
      {" Hello world", {18435, 995}},
      {"<|endoftext|>", {50256}},
      {"a<|endoftext|>b", {64, 50256, 65}},
      {"I'm sure they'll say it's done, we've 'RE' isn't",
       {40, 1101, 1654, 484, 1183, 910, 340, 338, 1760, 11, 356, 1053, 705, 2200, 6, 2125, 470}},
      {"DON'T don't", {41173, 6, 51, 836, 470}},
      {"a  b   c\n\n\nd \t e  ", {64, 220, 275, 220, 220, 269, 628, 198, 67, 220, 197, 304, 220, 220}},
      {"   leading", {220, 220, 3756}},
      {"trailing   ", {9535, 4386, 220, 220, 220}},
      {"x\r\ny", {87, 201, 198, 88}},
      {"The year 2024 has 365 days; pi=3.14159!",
       {464, 614, 48609, 468, 21268, 1528, 26, 31028, 28, 18, 13, 1415, 19707, 0}},
      {"1234567890123", {10163, 2231, 3134, 4531, 486, 1954}},
      {"h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x94 na\xc3\xafve caf\xc3\xa9",  // héllo wörld — naïve café
       {71, 2634, 18798, 266, 30570, 335, 851, 41492, 40304}},
      {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9"
       "\xe3\x83\x88",  // 日本語のテキスト
       {33768, 98, 17312, 105, 45739, 252, 5641, 24336, 25084, 43302}},
      {"emoji \xf0\x9f\xa4\x97\xf0\x9f\x9a\x80 ok",  // emoji 🤗🚀 ok
       {368, 31370, 12520, 97, 245, 8582, 248, 222, 12876}},
      {"    def foo():\n        return 42\n",
       {220, 220, 220, 825, 22944, 33529, 198, 220, 220, 220, 220, 220, 220, 220, 1441, 5433, 198}},
  };
  for (const auto& [text, ids] : cases) {
    EXPECT_EQ(gpt2()->encode(text), ids) << text;
    EXPECT_EQ(gpt2()->decode(ids), text);
  }
  EXPECT_EQ(gpt2()->vocab_size(), 50257);
  EXPECT_EQ(gpt2()->eot(), 50256);
  EXPECT_EQ(gpt2()->name(), "gpt2");
  EXPECT_TRUE(gpt2()->encode("").empty());
}

TEST(Gpt2Tokenizer, RoundTripsRandomUtf8) {
  REQUIRE_GPT2();
  std::mt19937 rng(1);
  for (int i = 0; i < 200; ++i) expect_round_trip(*gpt2(), random_utf8(rng, rng() % 300));
}

// Bytes that are not UTF-8 (stray continuations, overlong forms, surrogates,
// code points past U+10FFFF, sequences cut short) still encode and decode exactly.
TEST(Gpt2Tokenizer, RoundTripsAnyBytes) {
  REQUIRE_GPT2();
  const std::string cases[] = {"\xff",         "a\x80z",   "\xc0\xaf",      "\xed\xa0\x80 x",
                               "\xf4\x90\x80\x80", "\xe2\x82", "caf\xc3",      " \xfe\xfe!",
                               std::string("a\0b", 3)};
  for (const auto& s : cases) expect_round_trip(*gpt2(), s);
  std::mt19937 rng(2);
  for (int i = 0; i < 200; ++i) {
    std::string s(rng() % 400, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 3 == 0 ? ' ' : rng() % 256);
    expect_round_trip(*gpt2(), s);
  }
  // A lone invalid byte is its own byte token: 0xff is "\u00ff" in encoder.json, id 187.
  EXPECT_EQ(gpt2()->encode("\xff"), Ids{187});
}

// One piece of 300k letters: the heap-based merge loop takes O(n log n), where
// rescanning every pair after each merge would take minutes.
TEST(Gpt2Tokenizer, EncodesAVeryLongPiece) {
  REQUIRE_GPT2();
  std::string text;
  std::mt19937 rng(3);
  for (int i = 0; i < 300000; ++i) text += static_cast<char>('a' + rng() % 26);
  expect_round_trip(*gpt2(), text);
}

TEST(Gpt2Tokenizer, GivesTheSameIdsFromSeveralThreads) {
  REQUIRE_GPT2();
  std::mt19937 rng(4);
  std::vector<std::string> texts;
  for (int i = 0; i < 50; ++i) texts.push_back(random_utf8(rng, 200));
  std::vector<Ids> want;
  for (const auto& t : texts) want.push_back(gpt2()->encode(t));
  std::vector<Ids> got[2];
  std::vector<std::thread> threads;
  for (auto& g : got)
    threads.emplace_back([&texts, &g] {
      for (const auto& t : texts) g.push_back(gpt2()->encode(t));
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(got[0], want);
  EXPECT_EQ(got[1], want);
}

TEST(Gpt2Tokenizer, RejectsIdsOutsideTheVocabulary) {
  REQUIRE_GPT2();
  try {
    gpt2()->decode({15496, 50257});
    FAIL() << "no error";
  } catch (const knlp::Error& e) {
    EXPECT_NE(e.line().find("token id 50257 outside 0..50256"), std::string::npos) << e.line();
  }
}

// The merge loop on vocabularies small enough to work out by hand.
TEST(BpeMerges, LowestRankFirstLeftmostAmongEquals) {
  // Ids: bytes are their own ids, merges 256, 257, ... in rank order.
  auto dir = write_tiny_vocab("bpe-aa", {{"a", "a"}});
  auto tok = knlp::make_tokenizer("gpt2", dir);
  EXPECT_EQ(tok->vocab_size(), 258);
  EXPECT_EQ(tok->eot(), 257);
  EXPECT_EQ(tok->encode("aaa"), (Ids{256, 'a'}));          // aa a, not a aa
  EXPECT_EQ(tok->encode("aaaa"), (Ids{256, 256}));         // aa aa
  EXPECT_EQ(tok->encode("aaaaa"), (Ids{256, 256, 'a'}));   // aa aa a
  EXPECT_EQ(tok->encode("aa aa"), (Ids{256, ' ', 256}));   // " aa" is a piece; no " a" merge

  dir = write_tiny_vocab("bpe-bc", {{"b", "c"}, {"a", "b"}});
  tok = knlp::make_tokenizer("gpt2", dir);
  EXPECT_EQ(tok->encode("abc"), (Ids{'a', 256}));  // b c ranks first: a bc

  dir = write_tiny_vocab("bpe-ab", {{"a", "b"}, {"b", "c"}});
  tok = knlp::make_tokenizer("gpt2", dir);
  EXPECT_EQ(tok->encode("abc"), (Ids{256, 'c'}));  // a b ranks first: ab c

  dir = write_tiny_vocab("bpe-hello", {{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}});
  tok = knlp::make_tokenizer("gpt2", dir);
  EXPECT_EQ(tok->encode("hello"), (Ids{259}));
  EXPECT_EQ(tok->encode("hellohel"), (Ids{259, 256, 'l'}));
  EXPECT_EQ(tok->encode("hello<|endoftext|>hello"), (Ids{259, 260, 259}));
  std::filesystem::remove_all(dir);
}

TEST(ByteTokenizer, OneIdPerByteAndBack) {
  auto tok = knlp::make_tokenizer("byte", "/nonexistent");
  EXPECT_EQ(tok->name(), "byte");
  EXPECT_EQ(tok->vocab_size(), 256);
  EXPECT_EQ(tok->eot(), 0);
  EXPECT_EQ(tok->encode(std::string("h\xc3\xa9\0", 4)), (Ids{104, 195, 169, 0}));
  EXPECT_EQ(tok->encode("<|endoftext|>").size(), 13u);  // no special strings
  std::mt19937 rng(5);
  for (int i = 0; i < 50; ++i) {
    std::string s(rng() % 100, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 256);
    expect_round_trip(*tok, s);
  }
  EXPECT_THROW(tok->decode({256}), knlp::Error);
}

TEST(Tokenizer, UnknownNameListsTheKnownOnes) {
  EXPECT_NE(error_of("bpe", "x").find("tokenizer: unknown tokenizer 'bpe'; accepted: gpt2, byte"),
            std::string::npos);
}

// Each broken vocabulary gives one line naming the file (and line) and the fault.
TEST(Gpt2Tokenizer, VocabErrorsNameTheFileAndTheFault) {
  auto dir = knlp::test::temp_dir("vocab-errors");
  const std::string where = (dir / "encoder.json").string();
  EXPECT_EQ(error_of("gpt2", dir),
            where + ": tokenizer: missing; download it from https://openaipublic.blob.core."
                    "windows.net/gpt-2/encodings/main/encoder.json into this folder "
                    "(docs/data.md)");
  write_file(dir / "encoder.json", "{\"a\": 0,");
  EXPECT_NE(error_of("gpt2", dir).find(where + ": tokenizer: not valid JSON: "),
            std::string::npos);
  write_file(dir / "encoder.json", "{\"a\": \"zero\"}");
  EXPECT_EQ(error_of("gpt2", dir),
            where + ": tokenizer: token \"a\": id \"zero\" is not an integer in 0..0");
  write_file(dir / "encoder.json", "{\"a\": 0, \"b \": 1}");
  EXPECT_EQ(error_of("gpt2", dir),
            where + ": tokenizer: token \"b \": U+0020 is not one of GPT-2's 256 byte characters");
  write_file(dir / "encoder.json", "{\"a\": 0}");
  EXPECT_EQ(error_of("gpt2", dir), where + ": tokenizer: no token for the single byte 0x00");

  // A good encoder.json with bad merge files.
  auto good = write_tiny_vocab("vocab-good", {{"a", "b"}});
  std::filesystem::copy_file(good / "encoder.json", dir / "encoder.json",
                             std::filesystem::copy_options::overwrite_existing);
  const std::string bpe = (dir / "vocab.bpe").string();
  EXPECT_NE(error_of("gpt2", dir).find(bpe + ": tokenizer: missing; download it from "),
            std::string::npos);
  write_file(dir / "vocab.bpe", "#version: 0.2\na b\nab  c\n");
  EXPECT_EQ(error_of("gpt2", dir),
            bpe + ":3: tokenizer: expected two tokens separated by one space, got \"ab  c\"");
  write_file(dir / "vocab.bpe", "#version: 0.2\na b\nq z\n");
  EXPECT_EQ(error_of("gpt2", dir),
            bpe + ":3: tokenizer: the merge \"q z\" is not a token of encoder.json");
  write_file(dir / "vocab.bpe", "#version: 0.2\nab \xc3\xbf\xc3\xbf\n");  // ÿÿ: no such token
  EXPECT_EQ(error_of("gpt2", dir),
            bpe + ":2: tokenizer: \"\xc3\xbf\xc3\xbf\" is not a token of encoder.json");
  write_file(dir / "vocab.bpe", "#version: 0.2\n");
  EXPECT_EQ(error_of("gpt2", dir), bpe + ": tokenizer: no merge rules");
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(good);
}
