// `knlp data prepare` on a small text tree the test writes: every document
// whole in one split, eot after each, uint16 files of 2 bytes a token, manifest.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>

#include "data/data.h"
#include "fixtures.h"
#include "util/check.h"
#include "util/fs.h"

namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

void write_gz(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::vector<int32_t> read_uint16(const fs::path& p) {
  const std::string b = knlp::read_file(p);
  std::vector<int32_t> ids(b.size() / 2);
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = static_cast<unsigned char>(b[2 * i]) | (static_cast<unsigned char>(b[2 * i + 1]) << 8);
  return ids;
}

// The documents of a byte-tokenized split file: the text between eot (0) ids.
std::vector<std::string> byte_documents(const fs::path& p) {
  std::vector<std::string> docs(1);
  for (int32_t id : read_uint16(p)) {
    if (id == 0)
      docs.emplace_back();
    else
      docs.back() += static_cast<char>(id);
  }
  EXPECT_TRUE(docs.back().empty()) << p << " does not end with eot";
  docs.pop_back();
  return docs;
}

// docs/: seven documents in five text files (one gzipped, one JSONL of three
// lines), an empty file and a binary one. In walk order: alpha, echo,
// foxtrot, golf (e.jsonl), bravo, charlie, delta (sub/).
const std::vector<std::string> kDocs = {"alpha: the first document\n", "echo", "foxtrot \xc3\xa9",
                                        "golf", "bravo, second\n", "charlie, gzipped\n",
                                        "delta\n\nwith lines"};

fs::path write_tree(const fs::path& root) {
  const fs::path src = root / "docs";
  write_file(src / "a.txt", kDocs[0]);
  write_file(src / "e.jsonl", "{\"text\": \"echo\"}\n\n{\"id\": 2, \"text\": \"foxtrot \\u00e9\"}\n"
                              "{\"text\": \"golf\"}");
  write_file(src / "empty.txt", "");
  write_file(src / "logo.bin", std::string("\x89PNG\0\0\x01", 7));
  write_file(src / "sub" / "b.rst", kDocs[4]);
  write_gz(src / "sub" / "c.txt.gz", kDocs[5]);
  write_file(src / "sub" / "deep" / "d.md", kDocs[6]);
  return src;
}

knlp::PrepareOptions options(std::vector<fs::path> sources, const fs::path& out) {
  knlp::PrepareOptions o;
  o.sources = std::move(sources);
  o.out_dir = out;
  o.val_fraction = 0.5;
  o.progress = false;
  return o;
}

std::string error_of(const knlp::PrepareOptions& o, const knlp::Tokenizer& tok) {
  try {
    knlp::prepare_text_data(o, tok);
  } catch (const knlp::Error& e) {
    EXPECT_EQ(e.code(), knlp::ExitCode::kBadInput);
    return e.line();
  }
  return "";
}

}  // namespace

TEST(Prepare, SplitsWholeDocumentsAndCountsEveryToken) {
  const auto root = knlp::test::temp_dir("prepare");
  const auto src = write_tree(root);
  const auto tok = knlp::make_tokenizer("byte", "");
  const auto r = knlp::prepare_text_data(options({src}, root / "out"), *tok);

  // Byte tokens: a document of n bytes is n ids plus one eot.
  int64_t bytes = 0;
  for (const auto& d : kDocs) bytes += static_cast<int64_t>(d.size());
  EXPECT_EQ(r.files, 7);
  EXPECT_EQ(r.skipped_empty, 1);
  EXPECT_EQ(r.skipped_binary, 1);
  EXPECT_EQ(r.train.documents + r.val.documents, 7);
  EXPECT_EQ(r.train.bytes + r.val.bytes, bytes);
  EXPECT_EQ(r.train.tokens + r.val.tokens, bytes + 7);
  ASSERT_GT(r.train.documents, 0);
  ASSERT_GT(r.val.documents, 0);
  EXPECT_EQ(fs::file_size(root / "out" / "train.bin"), 2u * static_cast<uint64_t>(r.train.tokens));
  EXPECT_EQ(fs::file_size(root / "out" / "val.bin"), 2u * static_cast<uint64_t>(r.val.tokens));

  // Each document lies whole in exactly one split, in walk order.
  const auto train = byte_documents(root / "out" / "train.bin");
  const auto val = byte_documents(root / "out" / "val.bin");
  EXPECT_EQ(static_cast<int64_t>(train.size()), r.train.documents);
  EXPECT_EQ(static_cast<int64_t>(val.size()), r.val.documents);
  std::vector<std::string> want_train, want_val;
  for (const auto& d : kDocs) {
    const bool in_train = std::count(train.begin(), train.end(), d) == 1;
    const bool in_val = std::count(val.begin(), val.end(), d) == 1;
    EXPECT_NE(in_train, in_val) << d;
    (in_train ? want_train : want_val).push_back(d);
  }
  EXPECT_EQ(train, want_train);
  EXPECT_EQ(val, want_val);

  const auto m = nlohmann::json::parse(knlp::read_file(root / "out" / "manifest.json"));
  EXPECT_EQ(m["tokenizer"]["name"], "byte");
  EXPECT_EQ(m["tokenizer"]["vocab_size"], 256);
  EXPECT_EQ(m["tokenizer"]["eot"], 0);
  EXPECT_EQ(m["train"]["file"], "train.bin");
  EXPECT_EQ(m["train"]["documents"], r.train.documents);
  EXPECT_EQ(m["train"]["tokens"], r.train.tokens);
  EXPECT_EQ(m["val"]["documents"], r.val.documents);
  EXPECT_EQ(m["val"]["tokens"], r.val.tokens);
  EXPECT_EQ(m["split"]["by"], "document");
  EXPECT_EQ(m["split"]["val_fraction"], 0.5);
  EXPECT_EQ(m["sources"], nlohmann::json::array({src.string()}));
  EXPECT_EQ(m["skipped"]["empty"], 1);
  EXPECT_EQ(m["skipped"]["binary"], 1);
  EXPECT_TRUE(m["created"].is_string());

  // Nothing but the three outputs is left behind.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root / "out")) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"manifest.json", "train.bin", "val.bin"}));

  // The split of a document follows from its bytes alone: the same documents,
  // given in another order and by other paths, land in the same splits.
  const auto r2 = knlp::prepare_text_data(
      options({src / "sub", src / "a.txt", src / "sub" / "b.rst"}, root / "out2"), *tok);
  EXPECT_EQ(r2.train.documents + r2.val.documents, 4);  // b.rst is read once
  for (const auto& d : byte_documents(root / "out2" / "train.bin"))
    EXPECT_EQ(std::count(train.begin(), train.end(), d), 1) << d;
  for (const auto& d : byte_documents(root / "out2" / "val.bin"))
    EXPECT_EQ(std::count(val.begin(), val.end(), d), 1) << d;

  // The same input gives the same bytes.
  knlp::prepare_text_data(options({src}, root / "out3"), *tok);
  EXPECT_EQ(knlp::read_file(root / "out" / "train.bin"), knlp::read_file(root / "out3" / "train.bin"));
  EXPECT_EQ(knlp::read_file(root / "out" / "val.bin"), knlp::read_file(root / "out3" / "val.bin"));
  fs::remove_all(root);
}

TEST(Prepare, ExtensionsPickFilesInFoldersLookingThroughGz) {
  const auto root = knlp::test::temp_dir("prepare-ext");
  const auto src = write_tree(root);
  const auto tok = knlp::make_tokenizer("byte", "");
  auto o = options({src}, root / "out");
  o.extensions = {"txt", "md"};
  const auto r = knlp::prepare_text_data(o, *tok);
  EXPECT_EQ(r.files, 4);  // a.txt, empty.txt, sub/c.txt.gz, sub/deep/d.md
  EXPECT_EQ(r.train.documents + r.val.documents, 3);
  EXPECT_EQ(r.train.bytes + r.val.bytes,
            static_cast<int64_t>(kDocs[0].size() + kDocs[5].size() + kDocs[6].size()));
  fs::remove_all(root);
}

TEST(Prepare, Gpt2DocumentsEndWithEndOfText) {
  const auto vocab = knlp::test::shared_gpt2_vocab();
  if (vocab.empty()) GTEST_SKIP() << "no GPT-2 vocabulary at $KNLP_SOURCE_DIR/../shared/data/gpt2";
  const auto root = knlp::test::temp_dir("prepare-gpt2");
  // Six one-line documents; "Hello world" is [15496, 995] (the vocabulary's README).
  std::string jsonl;
  for (int i = 0; i < 6; ++i) jsonl += fmt::format("{{\"body\": \"Hello world{}\"}}\n", i);
  write_file(root / "greetings.jsonl", jsonl);
  const auto tok = knlp::make_tokenizer("gpt2", vocab);
  auto o = options({root / "greetings.jsonl"}, root / "out");
  o.jsonl_field = "body";
  const auto r = knlp::prepare_text_data(o, *tok);
  // "Hello world3" is Hello, world, 3: three ids and eot for each document.
  EXPECT_EQ(r.train.tokens + r.val.tokens, 6 * 4);
  std::vector<int32_t> all = read_uint16(root / "out" / "train.bin");
  const auto val = read_uint16(root / "out" / "val.bin");
  all.insert(all.end(), val.begin(), val.end());
  ASSERT_EQ(all.size(), 24u);
  for (size_t i = 0; i < all.size(); i += 4) {
    EXPECT_EQ(all[i], 15496);
    EXPECT_EQ(all[i + 1], 995);
    EXPECT_EQ(all[i + 3], 50256);
  }
  const auto m = nlohmann::json::parse(knlp::read_file(root / "out" / "manifest.json"));
  EXPECT_EQ(m["tokenizer"]["name"], "gpt2");
  EXPECT_EQ(m["tokenizer"]["vocab_size"], 50257);
  EXPECT_EQ(m["jsonl_field"], "body");
  fs::remove_all(root);
}

TEST(Prepare, BadInputStopsWithOneLineAndKeepsEarlierOutput) {
  const auto root = knlp::test::temp_dir("prepare-errors");
  const auto src = write_tree(root);
  const auto tok = knlp::make_tokenizer("byte", "");
  const auto out = root / "out";
  knlp::prepare_text_data(options({src}, out), *tok);
  const std::string before = knlp::read_file(out / "train.bin");

  EXPECT_EQ(error_of(options({root / "nope"}, out), *tok),
            (root / "nope").string() + ": data prepare: no such file or folder");
  write_file(root / "bad.jsonl", "{\"text\": \"ok\"}\n{\"body\": \"x\"}\n");
  EXPECT_EQ(error_of(options({src, root / "bad.jsonl"}, out), *tok),
            (root / "bad.jsonl").string() +
                ":2: data prepare: no string field \"text\" (--jsonl-field names it)");
  write_file(root / "broken.jsonl", "{\"text\": \"ok\"\n");
  EXPECT_NE(error_of(options({root / "broken.jsonl"}, out), *tok)
                .find("broken.jsonl:1: data prepare: not valid JSON: "),
            std::string::npos);
  EXPECT_NE(error_of(options({src / "a.txt"}, out), *tok)
                .find(" split is empty (1 documents in all, --val-fraction 0.5)"),
            std::string::npos);
  auto o = options({src}, out);
  o.val_fraction = 1.0;
  EXPECT_NE(error_of(o, *tok).find("--val-fraction: 1 is outside (0, 1)"), std::string::npos);

  // The failed runs left the earlier files as they were, and no temp files.
  EXPECT_EQ(knlp::read_file(out / "train.bin"), before);
  int files = 0;
  for (const auto& e : fs::directory_iterator(out)) files += e.is_regular_file();
  EXPECT_EQ(files, 3);
  fs::remove_all(root);
}
