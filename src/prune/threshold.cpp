// prune/threshold.cpp - which weights the scores prune.
//
// The exact threshold prunes exactly k weights: every score below the k-th
// smallest, then as many of the scores equal to it as are still needed, in
// position order. The k-th smallest is found without kthvalue over all the
// scores, which would copy them into one tensor and copy that again with an
// int64 index per score: 16 bytes per prunable weight beyond the scores
// themselves, more than any pruner keeps. The sampled estimate is the
// reference's cheaper, inexact variant.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "prune/prune.h"

namespace knlp {

namespace {

std::vector<torch::Tensor> keep_all(const std::vector<torch::Tensor>& scores) {
  std::vector<torch::Tensor> out;
  for (const auto& s : scores) out.push_back(torch::ones_like(s, torch::kBool));
  return out;
}

// float32 <-> an unsigned key with the same order (negatives reversed below positives).
uint32_t key_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

float value_of(uint32_t key) {
  const uint32_t u = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// How many of all the scores are <= t (one host sync).
int64_t count_at_most(const std::vector<torch::Tensor>& scores, float t) {
  auto total = torch::zeros({}, torch::TensorOptions(torch::kLong).device(scores[0].device()));
  for (const auto& s : scores) total += (s <= t).sum();
  return total.item<int64_t>();
}

// The k-th smallest (1-based) of all the float32 scores, by bisection over
// the float order: at most 32 counting passes.
float kth_by_bisection(const std::vector<torch::Tensor>& scores, int64_t k) {
  float lo_v = std::numeric_limits<float>::infinity(), hi_v = -lo_v;
  for (const auto& s : scores) {
    if (s.numel() == 0) continue;
    lo_v = std::min(lo_v, s.min().item<float>());
    hi_v = std::max(hi_v, s.max().item<float>());
  }
  uint32_t lo = key_of(lo_v), hi = key_of(hi_v);  // count(<= value_of(hi)) >= k
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (count_at_most(scores, value_of(mid)) >= k)
      hi = mid;
    else
      lo = mid + 1;
  }
  return value_of(lo);
}

// Every step-th of all the scores, in position order: a deterministic sample.
torch::Tensor strided_sample(const std::vector<torch::Tensor>& scores, int64_t step) {
  std::vector<torch::Tensor> parts;
  int64_t offset = 0;
  for (const auto& s : scores) {
    const int64_t first = (step - offset % step) % step;  // first multiple of step in s
    if (first < s.numel()) parts.push_back(s.reshape({-1}).slice(0, first, s.numel(), step));
    offset += s.numel();
  }
  return torch::cat(parts);
}

// The k-th smallest (1-based) of all the float32 scores. A sorted sample of
// about 16k scores brackets it; two counting passes confirm the bracket and
// kthvalue runs on the few scores inside it (a few percent of all). When the
// sample misleads (a bracket that misses), bisection finds it instead.
float kth_smallest(const std::vector<torch::Tensor>& scores, int64_t n, int64_t k) {
  constexpr int64_t kSample = 16384;
  const auto sample =
      std::get<0>(strided_sample(scores, std::max<int64_t>(1, n / kSample)).sort());  // (m)
  const int64_t m = sample.numel();
  const auto q = static_cast<int64_t>(static_cast<double>(k) / static_cast<double>(n) *
                                      static_cast<double>(m));
  const auto d = static_cast<int64_t>(4 * std::sqrt(static_cast<double>(m))) + 1;
  const float inf = std::numeric_limits<float>::infinity();
  const float lo = q - d >= 0 ? sample[q - d].item<float>() : -inf;
  const float hi = q + d < m ? sample[q + d].item<float>() : inf;
  int64_t below = 0, at_most = 0;  // scores < lo, scores <= hi
  for (const auto& s : scores) {
    below += (s < lo).sum().item<int64_t>();
    at_most += (s <= hi).sum().item<int64_t>();
  }
  if (!(below < k && k <= at_most)) return kth_by_bisection(scores, k);
  std::vector<torch::Tensor> inside;
  for (const auto& s : scores) inside.push_back(s.masked_select((s >= lo) & (s <= hi)));
  return std::get<0>(torch::cat(inside).kthvalue(k - below)).item<float>();
}

}  // namespace

std::vector<torch::Tensor> prune_lowest(const std::vector<torch::Tensor>& scores, int64_t k) {
  int64_t n = 0;
  for (const auto& s : scores) n += s.numel();
  if (k <= 0 || n == 0) return keep_all(scores);
  k = std::min(k, n);
  const float thr = kth_smallest(scores, n, k);
  int64_t ties = k;  // threshold values still to prune, once the ones below are counted
  for (const auto& s : scores) ties -= (s < thr).sum().item<int64_t>();
  std::vector<torch::Tensor> keep;
  for (const auto& s : scores) {
    auto pruned = (s < thr).reshape({-1});  // (n)
    if (ties > 0) {
      auto at = (s.reshape({-1}) == thr).nonzero().reshape({-1});  // positions equal to thr
      const int64_t take = std::min(ties, at.numel());
      pruned.index_fill_(0, at.narrow(0, 0, take), true);
      ties -= take;
    }
    keep.push_back(pruned.logical_not().reshape(s.sizes()));
  }
  return keep;
}

std::vector<torch::Tensor> prune_lowest_sampled(const std::vector<torch::Tensor>& scores,
                                                int64_t k, double fraction) {
  int64_t n = 0;
  for (const auto& s : scores) n += s.numel();
  if (k <= 0 || n == 0) return keep_all(scores);
  const int64_t m = std::max<int64_t>(1, static_cast<int64_t>(fraction * static_cast<double>(n)));
  const int64_t km = std::clamp<int64_t>(k * m / n, 1, m);
  const auto idx = torch::randint(0, n, {m}, torch::kLong);  // with replacement, (m)
  std::vector<torch::Tensor> sample;
  int64_t offset = 0;
  for (const auto& s : scores) {  // the drawn positions that fall in this tensor
    auto mine = idx.masked_select((idx >= offset) & (idx < offset + s.numel())) - offset;
    sample.push_back(s.reshape({-1}).index_select(0, mine.to(s.device())));
    offset += s.numel();
  }
  const auto thr = std::get<0>(torch::cat(sample).kthvalue(km));  // (), about the k-th smallest
  std::vector<torch::Tensor> keep;
  for (const auto& s : scores) keep.push_back(s > thr);
  return keep;
}

double layer_sparsity(double sparsity, size_t layer, size_t layers) {
  const double pos = static_cast<double>(layer) /
                     static_cast<double>(std::max<size_t>(layers, 2) - 1);
  return std::min(0.95, sparsity * (0.7 + 0.6 * pos));
}

}  // namespace knlp
