// data/prepare.cpp - `knlp data prepare`: text documents -> train.bin / val.bin.
//
// A document is one input file, or one line of a .jsonl file. Each goes whole
// to train or to val, by a hash of its bytes, so the splits never share a
// document (nor two copies of one), and the choice does not depend on the
// order, the paths or the other documents. A split file is every document's
// ids followed by eot, as uint16 little-endian: nanoGPT's train.bin/val.bin.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "data/data.h"
#include "data/gzfile.h"
#include "util/check.h"
#include "util/fs.h"  // write_file_atomic
#include "util/log.h"  // ProgressBar

namespace knlp {

namespace {

namespace fs = std::filesystem;

constexpr const char* kSplitRule =
    "a document goes to val when splitmix64(fnv1a64(its bytes)) / 2^64 < val_fraction";

// A 64-bit hash of the document's bytes: FNV-1a, then splitmix64's finalizer,
// which spreads FNV's weak high bits over the whole word.
uint64_t document_hash(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

bool goes_to_val(std::string_view text, double val_fraction) {
  return static_cast<double>(document_hash(text) >> 11) * 0x1p-53 < val_fraction;
}

// "notes.rst.gz" -> "rst"; "README" -> "".
std::string extension_of(const fs::path& path) {
  fs::path p = path;
  if (p.extension() == ".gz") p = p.stem();
  const std::string ext = p.extension().string();
  return ext.empty() ? ext : ext.substr(1);
}

bool is_jsonl(const fs::path& path) { return extension_of(path) == "jsonl"; }

// The input files in order: each source as given; a folder walked recursively
// in sorted path order, keeping only opts.extensions when any are given. A file
// reached twice (a symbolic link, a folder given twice) is read once.
std::vector<fs::path> list_inputs(const PrepareOptions& opts) {
  std::vector<fs::path> files;
  std::set<fs::path> seen;
  const auto add = [&](const fs::path& p) {
    if (seen.insert(fs::weakly_canonical(p)).second) files.push_back(p);
  };
  for (const auto& src : opts.sources) {
    if (!fs::exists(src)) raise_at(src.string(), "data prepare", "no such file or folder");
    if (!fs::is_directory(src)) {
      add(src);
      continue;
    }
    std::vector<fs::path> walked;
    for (const auto& e : fs::recursive_directory_iterator(src)) {
      if (!e.is_regular_file()) continue;
      const std::string ext = extension_of(e.path());
      if (opts.extensions.empty() || std::find(opts.extensions.begin(), opts.extensions.end(),
                                               ext) != opts.extensions.end())
        walked.push_back(e.path());
    }
    std::sort(walked.begin(), walked.end());
    for (const auto& p : walked) add(p);
  }
  return files;
}

// One split's output: uint16 little-endian ids streamed to a temp file beside
// the target, renamed over it by commit(); dropped if never committed.
class TokenFile {
 public:
  explicit TokenFile(fs::path path)
      : path_(std::move(path)), tmp_(path_.string() + fmt::format(".tmp.{}", ::getpid())) {
    f_ = std::fopen(tmp_.c_str(), "wb");
    KNLP_CHECK(f_ != nullptr, "data prepare", "cannot create {}: {}", tmp_.string(),
               std::strerror(errno));
  }
  ~TokenFile() {
    if (f_) std::fclose(f_);
    if (!committed_) std::remove(tmp_.c_str());
  }
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;

  void write(const std::vector<int32_t>& ids) {
    buf_.resize(2 * ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      buf_[2 * i] = static_cast<unsigned char>(ids[i] & 0xff);
      buf_[2 * i + 1] = static_cast<unsigned char>((ids[i] >> 8) & 0xff);
    }
    KNLP_CHECK(std::fwrite(buf_.data(), 1, buf_.size(), f_) == buf_.size(), "data prepare",
               "cannot write {}: {}", tmp_.string(), std::strerror(errno));
  }

  void commit() {
    const bool ok = std::fflush(f_) == 0 && ::fsync(::fileno(f_)) == 0;
    std::fclose(f_);
    f_ = nullptr;
    KNLP_CHECK(ok, "data prepare", "cannot write {}: {}", tmp_.string(), std::strerror(errno));
    KNLP_CHECK(std::rename(tmp_.c_str(), path_.c_str()) == 0, "data prepare",
               "cannot rename {} to {}: {}", tmp_.string(), path_.string(), std::strerror(errno));
    committed_ = true;
  }

 private:
  fs::path path_, tmp_;
  std::FILE* f_ = nullptr;
  std::vector<unsigned char> buf_;
  bool committed_ = false;
};

// Tokenizes documents into the two split files and counts what went where.
class Splitter {
 public:
  Splitter(const PrepareOptions& opts, const Tokenizer& tok, PrepareResult& result)
      : opts_(opts),
        tok_(tok),
        result_(result),
        train_(opts.out_dir / "train.bin"),
        val_(opts.out_dir / "val.bin") {}

  void add(std::string_view text) {
    if (text.empty()) {
      ++result_.skipped_empty;
      return;
    }
    std::vector<int32_t> ids = tok_.encode(text);
    if (std::find(ids.begin(), ids.end(), tok_.eot()) != ids.end()) ++eot_inside_;
    ids.push_back(tok_.eot());
    const bool val = goes_to_val(text, opts_.val_fraction);
    (val ? val_ : train_).write(ids);
    SplitCounts& c = val ? result_.val : result_.train;
    ++c.documents;
    c.tokens += static_cast<int64_t>(ids.size());
    c.bytes += static_cast<int64_t>(text.size());
  }

  void commit() {
    const int64_t docs = result_.train.documents + result_.val.documents;
    KNLP_CHECK_INPUT(result_.train.documents > 0 && result_.val.documents > 0, "data prepare",
                     "the {} split is empty ({} documents in all, --val-fraction {}); a split "
                     "by document needs more documents or another fraction",
                     result_.val.documents == 0 ? "val" : "train", docs, opts_.val_fraction);
    if (eot_inside_ > 0)
      spdlog::warn("{} documents contain the eot text itself; it was encoded as eot",
                   eot_inside_);
    train_.commit();
    val_.commit();
  }

 private:
  const PrepareOptions& opts_;
  const Tokenizer& tok_;
  PrepareResult& result_;
  TokenFile train_, val_;
  int64_t eot_inside_ = 0;
};

// Feeds the documents of one input file to the splitter.
void read_documents(const fs::path& path, const PrepareOptions& opts, Splitter& out,
                    PrepareResult& result) {
  if (!is_jsonl(path)) {
    const std::string text = read_maybe_gzipped(path);
    if (text.find('\0') != std::string::npos) {
      spdlog::debug("skipping {}: binary (holds a NUL byte)", path.string());
      ++result.skipped_binary;
      return;
    }
    out.add(text);
    return;
  }
  for_each_line(path, [&](std::string_view line, int64_t lineno) {
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
    const std::string where = fmt::format("{}:{}", path.string(), lineno);
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      raise_at(where, "data prepare", fmt::format("not valid JSON: {}", e.what()));
    }
    auto field = doc.is_object() ? doc.find(opts.jsonl_field) : doc.end();
    if (!doc.is_object() || field == doc.end() || !field->is_string())
      raise_at(where, "data prepare",
               fmt::format("no string field \"{}\" (--jsonl-field names it)", opts.jsonl_field));
    out.add(field->get_ref<const std::string&>());
  });
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", tm);
}

nlohmann::ordered_json split_json(const char* file, const SplitCounts& c) {
  return {{"file", file}, {"documents", c.documents}, {"tokens", c.tokens}, {"bytes", c.bytes}};
}

void write_manifest(const PrepareOptions& opts, const Tokenizer& tok, const PrepareResult& r) {
  nlohmann::ordered_json sources = nlohmann::ordered_json::array();
  for (const auto& s : opts.sources) sources.push_back(s.string());
  const nlohmann::ordered_json m = {
      {"format", "uint16 little-endian token ids, every document followed by eot (nanoGPT)"},
      {"tokenizer", {{"name", tok.name()}, {"vocab_size", tok.vocab_size()}, {"eot", tok.eot()}}},
      {"sources", sources},
      {"extensions", opts.extensions},
      {"jsonl_field", opts.jsonl_field},
      {"split", {{"by", "document"}, {"rule", kSplitRule}, {"val_fraction", opts.val_fraction}}},
      {"train", split_json("train.bin", r.train)},
      {"val", split_json("val.bin", r.val)},
      {"files", r.files},
      {"skipped", {{"empty", r.skipped_empty}, {"binary", r.skipped_binary}}},
      {"seconds", r.seconds},
      {"created", utc_now()},
  };
  write_file_atomic(opts.out_dir / "manifest.json", m.dump(2) + "\n");
}

}  // namespace

PrepareResult prepare_text_data(const PrepareOptions& opts, const Tokenizer& tokenizer) {
  KNLP_CHECK_INPUT(!opts.sources.empty(), "data prepare", "no sources given");
  KNLP_CHECK_INPUT(opts.val_fraction > 0 && opts.val_fraction < 1, "--val-fraction",
                   "{} is outside (0, 1)", opts.val_fraction);
  KNLP_CHECK_INPUT(tokenizer.vocab_size() <= 65536, "data prepare",
                   "tokenizer {} has {} tokens; uint16 files hold ids below 65536",
                   tokenizer.name(), tokenizer.vocab_size());
  const auto start = std::chrono::steady_clock::now();
  const std::vector<fs::path> files = list_inputs(opts);
  fs::create_directories(opts.out_dir);
  PrepareResult result;
  Splitter splitter(opts, tokenizer, result);
  ProgressBar bar("prepare", static_cast<long>(files.size()), opts.progress);
  for (const auto& path : files) {
    read_documents(path, opts, splitter, result);
    ++result.files;
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bar.update(result.files,
               fmt::format("{:.1f}M tokens {:.1f} MB/s",
                           (result.train.tokens + result.val.tokens) / 1e6,
                           (result.train.bytes + result.val.bytes) / 1e6 / std::max(s, 1e-9)));
  }
  bar.finish();
  splitter.commit();
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_manifest(opts, tokenizer, result);
  return result;
}

}  // namespace knlp
