// data/gzfile.cpp - plain or gzipped files, read through zlib.
#include "data/gzfile.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "util/check.h"

namespace knlp {

namespace {

// Feeds the decompressed bytes of path to sink in chunks of up to 256 KiB.
void read_chunks(const std::filesystem::path& path,
                 const std::function<void(std::string_view chunk)>& sink) {
  KNLP_CHECK_INPUT(std::filesystem::exists(path), path.string(), "no such file");
  gzFile f = gzopen(path.c_str(), "rb");
  KNLP_CHECK_INPUT(f != nullptr, path.string(), "cannot open: {}", std::strerror(errno));
  gzbuffer(f, 1 << 18);
  std::string buf(1 << 18, '\0');
  int n;
  try {
    while ((n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()))) > 0)
      sink(std::string_view(buf.data(), static_cast<size_t>(n)));
  } catch (...) {
    gzclose(f);
    throw;
  }
  int err = 0;
  const char* msg = gzerror(f, &err);
  std::string why = err < 0 && err != Z_BUF_ERROR ? msg : "";
  gzclose(f);
  KNLP_CHECK_INPUT(n == 0 && why.empty(), path.string(), "corrupt gzip data: {}",
                   why.empty() ? "unexpected end of file" : why);
}

}  // namespace

std::string read_maybe_gzipped(const std::filesystem::path& path) {
  std::string out;
  read_chunks(path, [&](std::string_view chunk) { out.append(chunk); });
  return out;
}

void for_each_line(const std::filesystem::path& path,
                   const std::function<void(std::string_view line, int64_t lineno)>& fn) {
  std::string line;
  int64_t lineno = 0;
  read_chunks(path, [&](std::string_view chunk) {
    for (size_t nl; (nl = chunk.find('\n')) != std::string_view::npos;) {
      line.append(chunk.substr(0, nl));
      fn(line, ++lineno);
      line.clear();
      chunk.remove_prefix(nl + 1);
    }
    line.append(chunk);
  });
  if (!line.empty()) fn(line, ++lineno);
}

}  // namespace knlp
