// models/weights.cpp - weights in and out as safetensors, under Hugging Face names.
//
// safetensors: an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
// {...}}), then the raw little-endian tensor bytes. GPT-2's module names are
// already HF's; the one layout difference is that HF stores the linear weights
// of the blocks as Conv1D, (in, out), the transpose of torch's Linear.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "models/gpt2.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/registry.h"  // find_row, accepted_names

namespace knlp {

namespace {

using json = nlohmann::json;

struct DType {
  const char* name;
  torch::ScalarType type;
};

constexpr DType kDTypes[] = {
    {"F32", torch::kFloat}, {"F16", torch::kHalf}, {"BF16", torch::kBFloat16},
    {"F64", torch::kDouble}, {"I64", torch::kLong}, {"I32", torch::kInt},
};

torch::ScalarType dtype_of(const std::string& name, const std::string& file) {
  if (const auto* d = find_row(kDTypes, name)) return d->type;
  raise_at(file, "safetensors",
           fmt::format("unsupported dtype {}; accepted: {}", name, accepted_names(kDTypes)));
}

// The JSON header of a safetensors file and where its data begins.
struct Header {
  json entries;
  int64_t data_start = 0, file_size = 0;
};

Header read_header(std::ifstream& in, const std::string& file) {
  in.seekg(0, std::ios::end);
  Header h;
  h.file_size = static_cast<int64_t>(in.tellg());
  in.seekg(0);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  KNLP_CHECK_INPUT(in && h.file_size >= 8 && static_cast<int64_t>(n) <= h.file_size - 8, file,
                   "not a safetensors file (header length {} in a file of {} bytes)", n,
                   h.file_size);
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  h.entries = json::parse(text, nullptr, /*allow_exceptions=*/false);
  KNLP_CHECK_INPUT(!h.entries.is_discarded() && h.entries.is_object(), file,
                   "safetensors header is not a JSON object");
  h.data_start = 8 + static_cast<int64_t>(n);
  return h;
}

// HF's per-layer causal-mask buffers, which are not weights.
bool is_mask_buffer(const std::string& name) {
  static const std::regex kMask(R"(h\.\d+\.attn\.(bias|masked_bias))");
  return std::regex_match(name, kMask);
}

// Linear weights inside the blocks: stored (in, out) like HF's Conv1D.
bool is_conv1d(const std::string& name, const torch::Tensor& t) {
  return name.rfind("h.", 0) == 0 && t.dim() == 2;
}

std::string strip_prefix(const std::string& name) {
  const std::string prefix = "transformer.";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

}  // namespace

void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  int64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    auto c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
    const int64_t bytes = c.numel() * 4;
    header[name] = {{"dtype", "F32"}, {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(c);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data 8-byte aligned
  std::string out(8, '\0');
  const uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  out += text;
  out.reserve(out.size() + static_cast<size_t>(offset));
  for (const auto& c : data)
    out.append(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.numel()) * 4);
  write_file_atomic(path, out);
}

SafeTensors read_safetensors(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  KNLP_CHECK_INPUT(in.good(), file, "cannot open");
  const Header h = read_header(in, file);
  SafeTensors st;
  for (const auto& [name, e] : h.entries.items()) {
    if (name == "__metadata__") {
      for (const auto& [k, v] : e.items())
        st.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump();
      continue;
    }
    const auto type = dtype_of(e.at("dtype").get<std::string>(), file);
    const auto shape = e.at("shape").get<std::vector<int64_t>>();
    const int64_t begin = e.at("data_offsets")[0], end = e.at("data_offsets")[1];
    auto t = torch::empty(shape, type);
    const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    KNLP_CHECK_INPUT(end - begin == bytes && h.data_start + end <= h.file_size, file,
                     "tensor {}: {} bytes at [{}, {}) do not match its shape or the file's {} "
                     "bytes (truncated?)",
                     name, bytes, begin, end, h.file_size);
    in.seekg(h.data_start + begin);
    in.read(static_cast<char*>(t.data_ptr()), bytes);
    st.tensors[name] = t.to(torch::kFloat);
  }
  return st;
}

void save_weights(LanguageModel& model, const std::filesystem::path& path) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& p : model.named_parameters()) {
    const auto& t = p.value();
    tensors.emplace_back(p.key(), is_conv1d(p.key(), t) ? t.t() : t);
  }
  write_safetensors(path, tensors, model.metadata());
}

void load_weights(LanguageModel& model, const std::filesystem::path& path) {
  const std::string file = path.string();
  auto st = read_safetensors(path);
  auto params = model.named_parameters();
  std::map<std::string, torch::Tensor> by_name;
  for (auto& [raw, t] : st.tensors) {
    const std::string name = strip_prefix(raw);
    if (is_mask_buffer(name)) continue;
    if (name == "lm_head.weight" && !params.contains(name)) continue;  // tied: it is wte
    KNLP_CHECK_INPUT(params.contains(name), file,
                     "tensor {} has no place in this model (another attention variant or "
                     "architecture?)",
                     raw);
    by_name[name] = is_conv1d(name, t) ? t.t() : t;
  }
  torch::NoGradGuard no_grad;
  for (auto& p : params) {
    auto it = by_name.find(p.key());
    KNLP_CHECK_INPUT(it != by_name.end(), file, "tensor {} is missing", p.key());
    KNLP_CHECK_INPUT(it->second.sizes() == p.value().sizes(), file,
                     "tensor {} is ({}) in the file, ({}) in the model (linear weights "
                     "compared as torch's (out, in))",
                     p.key(), fmt::join(it->second.sizes(), ", "),
                     fmt::join(p.value().sizes(), ", "));
    p.value().copy_(it->second);
  }
  spdlog::info("loaded {} tensors from {}", params.size(), file);
}

Gpt2Settings weights_shape(const std::filesystem::path& path, Gpt2Settings base) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  KNLP_CHECK_INPUT(in.good(), file, "cannot open");
  const Header h = read_header(in, file);
  auto shape_of = [&](const std::string& name) {
    for (const auto& [raw, e] : h.entries.items())
      if (strip_prefix(raw) == name) return e.at("shape").get<std::vector<int64_t>>();
    raise_at(file, name, "missing; not a GPT-2 weights file");
  };
  const auto wte = shape_of("wte.weight"), wpe = shape_of("wpe.weight");
  base.size = "custom";
  base.vocab_size = wte.at(0);
  base.n_embd = wte.at(1);
  base.block_size = wpe.at(0);
  static const std::regex kLayer(R"(h\.(\d+)\..*)");
  int64_t layers = 0;
  for (const auto& [raw, e] : h.entries.items()) {
    std::smatch m;
    const std::string name = strip_prefix(raw);
    if (std::regex_match(name, m, kLayer)) layers = std::max<int64_t>(layers, std::stoll(m[1]) + 1);
  }
  base.n_layer = layers;
  base.weight_tying = true;
  for (const auto& [raw, e] : h.entries.items())
    if (strip_prefix(raw) == "lm_head.weight") base.weight_tying = false;
  base.bias = false;
  for (const auto& [raw, e] : h.entries.items())
    if (strip_prefix(raw) == "ln_f.bias") base.bias = true;
  const json meta = h.entries.value("__metadata__", json::object());
  auto text = [&](const char* key) { return meta.value(key, std::string()); };
  if (!text("n_head").empty()) base.n_head = std::stoll(text("n_head"));
  if (!text("attention").empty()) base.attention = text("attention");
  if (!text("mlp").empty()) base.mlp = text("mlp");
  if (!text("ratio").empty()) base.ratio = text("ratio") == "true";
  for (const auto& k : kGpt2Knobs)
    if (!text(k.key).empty()) base.*k.field = std::stoll(text(k.key));
  return base;
}

}  // namespace knlp
