// data/tokens.cpp - memory-mapped token files and the language-model datasets.
//
// nanoGPT writes train.bin / val.bin as bare uint16 ids; llm.c puts a header of
// 256 int32 in front (magic 20240520, version 1, token count). Both are mapped
// read-only, so a 100M-token file costs no memory until windows are read.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "data/data.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/registry.h"  // find_row

namespace knlp {

namespace {

constexpr int32_t kLlmcMagic = 20240520;
constexpr int32_t kLlmcVersion = 1;  // uint16 tokens
constexpr int64_t kLlmcHeaderBytes = 256 * sizeof(int32_t);

// How to prepare each dataset knlp knows by name; {dir} is the folder expected.
struct TokenDataset {
  const char* name;
  const char* prepare;
};

constexpr TokenDataset kTokenDatasets[] = {
    {"kernel-docs", "make data-kernel-docs"},
    {"shakespeare", "knlp data prepare input.txt --out {dir} (input.txt: tinyshakespeare)"},
    {"finewebedu",
     "knlp data prepare <FineWeb-Edu sample-10BT text files> --out {dir}, or copy the "
     "train.bin/val.bin of nanoGPT's or llm.c's fineweb-edu prepare script there"},
    {"openwebtext",
     "knlp data prepare <OpenWebText text files> --out {dir}, or copy nanoGPT's "
     "openwebtext train.bin/val.bin there"},
    {"tinystories", "knlp data prepare <TinyStories text files> --out {dir}"},
    {"custom", "knlp data prepare <your text files> --out {dir}"},
};

std::string prepare_hint(const std::string& name, const std::filesystem::path& dir) {
  if (const auto* d = find_row(kTokenDatasets, name))
    return fmt::format(fmt::runtime(d->prepare), fmt::arg("dir", dir.string()));
  return fmt::format("knlp data prepare <text files> --out {}", dir.string());
}

// The tokenizer named by the folder's manifest.json ("" when it names none).
std::string manifest_tokenizer(const std::filesystem::path& dir) {
  const auto path = dir / "manifest.json";
  if (!std::filesystem::exists(path)) return "";
  auto j = nlohmann::json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  KNLP_CHECK_INPUT(!j.is_discarded(), path.string(), "not valid JSON");
  const auto it = j.find("tokenizer");
  if (it != j.end() && it->is_object() && it->contains("name") && (*it)["name"].is_string())
    return (*it)["name"].get<std::string>();
  return "";
}

}  // namespace

TokenFile::TokenFile(const std::filesystem::path& path) : path_(path) {
  const std::string p = path.string();
  const int fd = ::open(p.c_str(), O_RDONLY);
  KNLP_CHECK_INPUT(fd >= 0, p, "cannot open: {}", std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  const auto bytes = static_cast<int64_t>(st.st_size);
  if (bytes == 0) ::close(fd);
  KNLP_CHECK_INPUT(bytes > 0, p, "empty token file");
  void* map = ::mmap(nullptr, static_cast<size_t>(bytes), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  KNLP_CHECK_INPUT(map != MAP_FAILED, p, "cannot map: {}", std::strerror(errno));
  mapping_ = std::shared_ptr<const void>(
      map, [bytes](const void* m) { ::munmap(const_cast<void*>(m), static_cast<size_t>(bytes)); });

  int32_t header[3] = {0, 0, 0};
  if (bytes >= kLlmcHeaderBytes) std::memcpy(header, map, sizeof header);
  if (header[0] == kLlmcMagic) {
    KNLP_CHECK_INPUT(header[1] == kLlmcVersion, p,
                     "llm.c token file version {}; accepted: {} (uint16 tokens)", header[1],
                     kLlmcVersion);
    const int64_t want = kLlmcHeaderBytes + 2 * static_cast<int64_t>(header[2]);
    KNLP_CHECK_INPUT(bytes >= want, p,
                     "truncated: the llm.c header says {} tokens ({} bytes), the file has {} "
                     "bytes",
                     header[2], want, bytes);
    data_ = reinterpret_cast<const uint16_t*>(static_cast<const char*>(map) + kLlmcHeaderBytes);
    size_ = header[2];
  } else {
    KNLP_CHECK_INPUT(bytes % 2 == 0, p,
                     "{} bytes is not a whole number of uint16 tokens; the file is truncated "
                     "or not a nanoGPT/llm.c token file",
                     bytes);
    data_ = static_cast<const uint16_t*>(map);
    size_ = bytes / 2;
  }
}

torch::Tensor TokenFile::slice(int64_t start, int64_t n) const {
  KNLP_CHECK(start >= 0 && n >= 0 && start + n <= size_, path_.string(),
             "tokens [{}, {}) outside the file's {}", start, start + n, size_);
  auto out = torch::empty({n}, torch::kLong);
  auto* o = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) o[i] = data_[start + i];
  return out;
}

std::pair<torch::Tensor, torch::Tensor> TokenFile::sample(int64_t batch, int64_t block,
                                                          torch::Generator& gen) const {
  KNLP_CHECK_INPUT(size_ > block + 1, path_.string(),
                   "{} tokens; a window of GPT2_BLOCK_SIZE {} needs at least {}", size_, block,
                   block + 2);
  auto starts = torch::randint(0, size_ - block, {batch}, gen, torch::kLong);  // (B)
  auto x = torch::empty({batch, block}, torch::kLong);                          // (B, T)
  auto y = torch::empty({batch, block}, torch::kLong);                          // (B, T)
  auto* s = starts.data_ptr<int64_t>();
  auto* xp = x.data_ptr<int64_t>();
  auto* yp = y.data_ptr<int64_t>();
  for (int64_t b = 0; b < batch; ++b) {
    const uint16_t* w = data_ + s[b];
    for (int64_t t = 0; t < block; ++t) {
      xp[b * block + t] = w[t];
      yp[b * block + t] = w[t + 1];
    }
  }
  return {x, y};
}

std::vector<int64_t> TokenFile::counts() const {
  std::vector<int64_t> c(65536, 0);
  for (int64_t i = 0; i < size_; ++i) ++c[data_[i]];
  while (!c.empty() && c.back() == 0) c.pop_back();
  return c;
}

void write_token_file(const std::filesystem::path& path, const std::vector<int32_t>& ids) {
  std::string bytes(ids.size() * 2, '\0');
  for (size_t i = 0; i < ids.size(); ++i) {
    KNLP_CHECK(ids[i] >= 0 && ids[i] < 65536, path.string(), "token id {} does not fit uint16",
               ids[i]);
    const auto v = static_cast<uint16_t>(ids[i]);
    std::memcpy(&bytes[2 * i], &v, 2);
  }
  write_file_atomic(path, bytes);
}

TokenData load_tokens(const DataSettings& settings) {
  const auto& dir = settings.tokens;
  for (const char* split : {"train.bin", "val.bin"}) {
    const auto p = dir / split;
    KNLP_CHECK_INPUT(std::filesystem::exists(p), p.string(),
                     "no such file; dataset {} expects train.bin and val.bin (uint16 GPT-2 "
                     "token ids, nanoGPT or llm.c format) in {}; prepare them with: {}",
                     settings.dataset, dir.string(), prepare_hint(settings.dataset, dir));
  }
  return {settings.dataset, manifest_tokenizer(dir), TokenFile(dir / "train.bin"),
          TokenFile(dir / "val.bin")};
}

double unigram_cross_entropy(const TokenFile& train, const TokenFile& val, int64_t vocab_size) {
  const auto counts = train.counts();
  const double total = static_cast<double>(train.size() + vocab_size);
  std::vector<double> nll(65536, std::log(total));  // ids train never shows: count 0 + 1
  for (size_t id = 0; id < counts.size(); ++id)
    nll[id] = -std::log((static_cast<double>(counts[id]) + 1.0) / total);
  double nats = 0;
  for (int64_t i = 0; i < val.size(); ++i) nats += nll[val.at(i)];
  return nats / static_cast<double>(val.size());
}

}  // namespace knlp
