// models/attention/rmlp.cpp - the reciprocal MLP (R-MLP), in the
// attention-injected form the Python knlp describes.
//
// The hidden layer splits in two: hidden - R channels see the normalised
// residual u as in GPT-2, and R = s.rmlp_dim channels see u + alpha a, where a
// is the block's attention output, gated by sigmoid(s_rec) (s_rec = -3 at
// init, a gate of 0.047). The reference's four gate scalars (w_std sigma(s_std),
// w_rec sigma(s_rec)) reduce to this one: a scale on the standard half is
// absorbed by c_proj. The recip_* parameters are coupling for pruning
// (bitter8/9).
//
// Letters: B batch, T time, C channels, R reciprocal hidden channels.
#include "models/attention/attention.h"
#include "util/check.h"

namespace knlp {

namespace {

struct RmlpImpl : FeedForward {
  RmlpImpl(const Gpt2Settings& s, int64_t hidden)
      : c_fc(register_module("c_fc", linear(s.n_embd, hidden - s.rmlp_dim, s.bias))),
        recip_fc(register_module("recip_fc", linear(s.n_embd, s.rmlp_dim, s.bias))),
        c_proj(register_module("c_proj", linear(hidden, s.n_embd, s.bias))),
        dropout(register_module("dropout", torch::nn::Dropout(s.dropout))),
        recip_scale(register_parameter("recip_scale", torch::ones({1}))),
        recip_gate(register_parameter("recip_gate", torch::full({1}, -3.0))) {
    KNLP_CHECK_INPUT(s.rmlp_dim < hidden, "CONFIG_GPT2_RMLP_DIM",
                     "{} reciprocal channels leave none of the MLP's {} for the residual",
                     s.rmlp_dim, hidden);
  }

  torch::Tensor forward(const torch::Tensor& u, const torch::Tensor& a) override {
    auto h_std = torch::gelu(c_fc(u));                                          // (B, T, hidden - R)
    auto h_rec = torch::gelu(recip_fc(u + recip_scale * a)) * torch::sigmoid(recip_gate);
    return dropout(c_proj(torch::cat({h_std, h_rec}, 2)));  // (B, T, R) -> (B, T, C)
  }

  std::vector<torch::Tensor> coupling_parameters() override {
    auto p = recip_fc->parameters();
    p.insert(p.end(), {recip_scale, recip_gate});
    return p;
  }

  torch::nn::Linear c_fc{nullptr}, recip_fc{nullptr}, c_proj{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::Tensor recip_scale;  // alpha
  torch::Tensor recip_gate;        // s_rec
};

}  // namespace

std::shared_ptr<FeedForward> make_rmlp(const Gpt2Settings& s, int64_t hidden) {
  return std::make_shared<RmlpImpl>(s, hidden);
}

}  // namespace knlp
