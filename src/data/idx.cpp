// data/idx.cpp - the idx format of MNIST and Fashion-MNIST.
//
// Header: two zero bytes, a type byte (0x08 = unsigned byte), the number of
// dimensions, then each dimension as a big-endian int32; the data follows.
#include <zlib.h>

#include <cstring>

#include "data/data.h"
#include "data/gzfile.h"  // read_maybe_gzipped
#include "util/check.h"

namespace knlp {

namespace {

constexpr uint8_t kUnsignedByte = 0x08;

uint32_t big_endian32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

}  // namespace

torch::Tensor read_idx(const std::filesystem::path& path) {
  const std::string bytes = read_maybe_gzipped(path);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  KNLP_CHECK_INPUT(bytes.size() >= 4 && p[0] == 0 && p[1] == 0 && p[2] == kUnsignedByte &&
                       p[3] >= 1 && p[3] <= 4,
                   path.string(),
                   "not an idx file of unsigned bytes (magic {:02x}{:02x}{:02x}{:02x}); "
                   "accepted: 0x0000080N with N = 1..4 dimensions",
                   bytes.size() > 0 ? p[0] : 0, bytes.size() > 1 ? p[1] : 0,
                   bytes.size() > 2 ? p[2] : 0, bytes.size() > 3 ? p[3] : 0);
  const int ndim = p[3];
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  KNLP_CHECK_INPUT(bytes.size() >= header, path.string(), "truncated header: {} of {} bytes",
                   bytes.size(), header);
  std::vector<int64_t> dims;
  int64_t count = 1;
  for (int i = 0; i < ndim; ++i) {
    dims.push_back(big_endian32(p + 4 + 4 * i));
    count *= dims.back();
  }
  const size_t have = bytes.size() - header;
  KNLP_CHECK_INPUT(have == static_cast<size_t>(count), path.string(),
                   "{}: header announces {} bytes of data, file holds {}",
                   have < static_cast<size_t>(count) ? "truncated" : "trailing bytes", count,
                   have);
  auto t = torch::empty(dims, torch::kUInt8);
  std::memcpy(t.data_ptr<uint8_t>(), p + header, have);
  return t;
}

void write_idx(const std::filesystem::path& path, const torch::Tensor& data) {
  KNLP_CHECK(data.scalar_type() == torch::kUInt8 && data.dim() >= 1 && data.dim() <= 4, "idx",
             "write_idx takes a uint8 tensor of 1 to 4 dimensions");
  std::string bytes = {0, 0, static_cast<char>(kUnsignedByte), static_cast<char>(data.dim())};
  for (int64_t d : data.sizes())
    for (int shift = 24; shift >= 0; shift -= 8) bytes += static_cast<char>((d >> shift) & 0xff);
  auto c = data.contiguous();
  bytes.append(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), c.numel());
  const bool gz = path.extension() == ".gz";
  gzFile f = gzopen(path.c_str(), gz ? "wb" : "wbT");
  KNLP_CHECK(f != nullptr, path.string(), "cannot create: {}", std::strerror(errno));
  int n = gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
  KNLP_CHECK(n == static_cast<int>(bytes.size()), path.string(), "short write");
}

}  // namespace knlp
