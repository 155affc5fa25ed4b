// kv/bench.cpp - `knlp bench decode`: decode attention alone, per KV format.
//
// First the machine's memory bandwidth (a STREAM-like copy, and a read-only
// sum), then for each shape of the grid and each format: check the fused
// kernel against kv_ref (batch 0), then time it (a warm-up, then at least 5
// runs and 0.5 s; median and min). Decode is a stream over the cache, so the
// figure that matters is bytes of cache read per step over time, as a
// fraction of what the machine can move. Two baselines: torch SDPA over the
// fp32 cache, and the unfused int4 path (dequantize to new fp32 tensors, then
// SDPA). A benchmark, never a test: docs/int4-kv.md holds a run of it.
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>

#include "kv/kv.h"
#include "util/check.h"
#include "util/scripts.h"

namespace knlp {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Shape {
  int64_t batch, heads, head_dim, context;
};

std::vector<Shape> full_grid(bool quick) {
  if (quick) return {{1, 12, 64, 1024}, {4, 12, 64, 1024}, {1, 12, 64, 8192}};
  std::vector<Shape> grid;
  for (int64_t b : {1, 4, 16})
    for (int64_t t : {1024, 4096, 8192, 16384, 32768}) grid.push_back({b, 12, 64, t});
  grid.push_back({1, 32, 128, 8192});
  grid.push_back({1, 32, 128, 32768});
  grid.push_back({4, 32, 128, 8192});
  return grid;
}

// The grid's shapes whose batch and context are among those asked for.
std::vector<Shape> bench_grid(const DecodeBenchOptions& o) {
  auto wanted = [](const std::vector<int64_t>& list, int64_t x) {
    return list.empty() || std::find(list.begin(), list.end(), x) != list.end();
  };
  std::vector<Shape> grid;
  for (const Shape& s : full_grid(o.quick))
    if (wanted(o.batches, s.batch) && wanted(o.contexts, s.context)) grid.push_back(s);
  KNLP_CHECK_INPUT(!grid.empty(), "--batch/--context",
                   "no shape of the grid has them; the grid has batch 1, 4, 16 and context 1024, "
                   "4096, 8192, 16384, 32768 (--quick: batch 1, 4 and context 1024, 8192)");
  return grid;
}

// The formats of the table, in order; fp32 first (the others' ratios use it).
const char* const kSpecs[] = {"fp32", "bf16", "int8", "k8v4", "int4"};

// |got - ref| <= atol + rtol |ref| over batch 0: fp32 sums over up to 32K
// tokens round to about 1e-5 relative, so 1e-4 leaves a 10x margin while
// catching any real indexing or scaling error (those are O(1)).
constexpr double kAtol = 1e-4, kRtol = 1e-4;

struct Timing {
  double median_ms, min_ms;
  int runs;
};

void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

Timing time_it(const std::function<void()>& fn, const torch::Device& device) {
  fn();  // warm-up
  sync(device);
  std::vector<double> ms;
  const auto start = Clock::now();
  while (ms.size() < 200 &&
         (ms.size() < 5 || std::chrono::duration<double>(Clock::now() - start).count() < 0.5)) {
    const auto t0 = Clock::now();
    fn();
    sync(device);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), static_cast<int>(ms.size())};
}

// STREAM-like copy of two 256 MiB arrays (bytes read + written per second,
// STREAM's convention; threads copy disjoint chunks with memcpy, which streams
// past the caches) and a read-only sum; the best of 10 each, in GB/s.
json measure_bandwidth(const torch::Device& device) {
  const int64_t n = int64_t{64} << 20;  // floats
  auto src = torch::rand({n}, torch::TensorOptions().device(device));
  auto dst = torch::zeros_like(src);
  const double bytes = static_cast<double>(n) * 4;
  std::function<void()> copy = [&] {
    const float* s = src.data_ptr<float>();
    float* d = dst.data_ptr<float>();
    at::parallel_for(0, n, 1 << 20, [&](int64_t b, int64_t e) {
      std::memcpy(d + b, s + b, static_cast<size_t>(e - b) * 4);
    });
  };
  if (device.is_cuda()) copy = [&] { dst.copy_(src); };
  double copy_s = 1e30, read_s = 1e30;
  for (int r = 0; r < 10; r++) {
    auto t0 = Clock::now();
    copy();
    sync(device);
    copy_s = std::min(copy_s, std::chrono::duration<double>(Clock::now() - t0).count());
    t0 = Clock::now();
    (void)src.sum();
    sync(device);
    read_s = std::min(read_s, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return {{"copy_gbps", 2 * bytes / copy_s / 1e9},
          {"read_gbps", bytes / read_s / 1e9},
          {"array_mib", bytes / (1 << 20)}};
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// Batch 0 of a packed tensor (B, Hkv, T, .).
KvPacked first_batch(const KvPacked& p) {
  return {p.data.narrow(0, 0, 1), p.scales.defined() ? p.scales.narrow(0, 0, 1) : p.scales};
}

// Max |fused - kv_ref| over batch 0; throws when it exceeds the tolerance.
double verify(const torch::Tensor& q, const KvPacked& k, const KvPacked& v, KvSpec spec,
              int64_t length, const std::string& what) {
  auto q0 = q.narrow(0, 0, 1).cpu();
  auto k0 = first_batch(k), v0 = first_batch(v);
  auto got = kv_decode(q, k, v, spec, length).narrow(0, 0, 1).cpu();
  auto ref = kv_ref::attention(q0, kv_ref::dequantize(k0, spec.k), kv_ref::dequantize(v0, spec.v),
                               length);
  auto diff = (got - ref).abs();
  KNLP_CHECK(diff.le(kAtol + kRtol * ref.abs()).all().item<bool>(), "kv",
             "{}: fused decode differs from the reference by {:.3e}", what,
             diff.max().item<double>());
  return diff.max().item<double>();
}

json row(const Shape& s, const std::string& format, const char* kernel, const Timing& t,
         double bytes, const json& bw) {
  const double gbps = bytes / (t.median_ms * 1e-3) / 1e9;
  return {{"batch", s.batch},           {"heads", s.heads},
          {"kv_heads", s.heads},        {"head_dim", s.head_dim},
          {"context", s.context},       {"format", format},
          {"kernel", kernel},           {"median_ms", t.median_ms},
          {"min_ms", t.min_ms},         {"runs", t.runs},
          {"bytes_per_step", bytes},    {"gbps", gbps},
          {"gbps_best", bytes / (t.min_ms * 1e-3) / 1e9},
          {"frac_copy_bw", gbps / bw["copy_gbps"].get<double>()},
          {"frac_read_bw", gbps / bw["read_gbps"].get<double>()}};
}

void log_row(const json& r, double fp32_ms) {
  spdlog::info("{:>3} {:>3}x{:<3} {:>6} {:<5} {:<7} {:>9.3f} {:>9.3f} {:>8.1f} {:>6.1f} {:>5.0f}% {:>5.2f}x",
               r["batch"].get<int64_t>(), r["heads"].get<int64_t>(), r["head_dim"].get<int64_t>(),
               r["context"].get<int64_t>(), r["format"].get<std::string>(),
               r["kernel"].get<std::string>(), r["median_ms"].get<double>(),
               r["min_ms"].get<double>(), r["bytes_per_step"].get<double>() / 1e6,
               r["gbps"].get<double>(), 100 * r["frac_copy_bw"].get<double>(),
               fp32_ms / r["median_ms"].get<double>());
}

// Every format (and the two baselines) on one shape; appends rows to out.
void bench_shape(const Shape& s, const DecodeBenchOptions& o, const json& bw, json& out) {
  const torch::Device device(o.device);
  auto opts = torch::TensorOptions().device(device);
  auto q = torch::randn({s.batch, s.heads, 1, s.head_dim}, opts);          // (B, H, 1, D)
  auto k = torch::randn({s.batch, s.heads, s.context, s.head_dim}, opts);  // (B, H, T, D)
  auto v = torch::randn({s.batch, s.heads, s.context, s.head_dim}, opts);
  const double fp32_bytes = static_cast<double>(k.numel()) * 4 * 2;
  double fp32_ms = 0, sdpa_ms = 0;
  for (const char* name : kSpecs) {
    const KvSpec spec = kv_spec_from_name(name);
    const auto pk = kv_quantize(k, spec.k), pv = kv_quantize(v, spec.v);
    const double bytes = static_cast<double>(s.batch * s.heads * s.context) *
                         (kv_bytes_per_row(spec.k, s.head_dim) + kv_bytes_per_row(spec.v, s.head_dim));
    const double err = verify(q, pk, pv, spec, s.context, name);
    auto t = time_it([&] { kv_decode(q, pk, pv, spec, s.context); }, device);
    if (spec.k == KvFormat::kFp32 && spec.v == KvFormat::kFp32) {
      fp32_ms = t.median_ms;
      auto ts = time_it([&] { kv_decode_unfused(q, pk, pv, spec, s.context); }, device);
      sdpa_ms = ts.median_ms;
      out.push_back(row(s, name, "sdpa", ts, bytes, bw));
      out.back()["speedup_vs_fp32"] = fp32_ms / ts.median_ms;
      out.back()["speedup_vs_sdpa_fp32"] = 1.0;
      log_row(out.back(), fp32_ms);
    }
    out.push_back(row(s, name, "fused", t, bytes, bw));
    out.back()["max_abs_err"] = err;
    out.back()["speedup_vs_fp32"] = fp32_ms / t.median_ms;
    out.back()["speedup_vs_sdpa_fp32"] = sdpa_ms / t.median_ms;
    log_row(out.back(), fp32_ms);
    if (spec.k == KvFormat::kInt4 && spec.v == KvFormat::kInt4 &&
        fp32_bytes <= o.max_unfused_gib * (1 << 30)) {
      auto tu = time_it([&] { kv_decode_unfused(q, pk, pv, spec, s.context); }, device);
      out.push_back(row(s, name, "unfused", tu, bytes, bw));
      out.back()["speedup_vs_fp32"] = fp32_ms / tu.median_ms;
      out.back()["speedup_vs_sdpa_fp32"] = sdpa_ms / tu.median_ms;
      log_row(out.back(), fp32_ms);
    }
  }
}

}  // namespace

nlohmann::json run_decode_bench(const DecodeBenchOptions& o) {
  if (o.threads > 0) at::set_num_threads(static_cast<int>(o.threads));
  if (!o.isa.empty()) kv_set_cpu_isa(o.isa);
  const torch::Device device(o.device);
  KNLP_CHECK_INPUT(!device.is_cuda() || torch::cuda::is_available(), "--device",
                   "{} asked for, but LibTorch sees no CUDA device", o.device);
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  const json bw = measure_bandwidth(device);
  spdlog::info("bandwidth: copy {:.1f} GB/s, read {:.1f} GB/s ({} threads, {})",
               bw["copy_gbps"].get<double>(), bw["read_gbps"].get<double>(), at::get_num_threads(),
               device.is_cuda() ? "cuda" : kv_cpu_isa());
  spdlog::info("  B   HxD    ctx fmt   kernel   ms(med)   ms(min)  MB/step   GB/s  copy  vs fp32");
  json results = json::array();
  for (const Shape& s : bench_grid(o)) {
    const double fp32_gib = static_cast<double>(s.batch * s.heads * s.context * s.head_dim) * 8 / (1 << 30);
    if (fp32_gib > o.max_cache_gib) {
      spdlog::info("skip B {} {}x{} T {}: fp32 cache {:.1f} GiB > --max-cache-gib {}", s.batch,
                   s.heads, s.head_dim, s.context, fp32_gib, o.max_cache_gib);
      continue;
    }
    bench_shape(s, o, bw, results);
  }
  return {{"benchmark", "kv_decode"},
          {"device", device.is_cuda() ? o.device : cpu_name()},
          {"isa", device.is_cuda() ? "cuda" : kv_cpu_isa()},
          {"threads", at::get_num_threads()},
          {"commit", git_revision()},
          {"torch", TORCH_VERSION},
          {"quick", o.quick},
          {"bandwidth", bw},
          {"tolerance", {{"atol", kAtol}, {"rtol", kRtol}}},
          {"results", results}};
}

}  // namespace knlp
