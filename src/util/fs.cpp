#include "util/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/check.h"

namespace knlp {

void write_file_atomic(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += fmt::format(".tmp.{}", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  KNLP_CHECK(fd >= 0, "fs", "cannot create {}: {}", tmp.string(), std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      KNLP_CHECK(false, "fs", "cannot write {}: {}", tmp.string(), std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  KNLP_CHECK(synced, "fs", "cannot sync {}: {}", tmp.string(), std::strerror(errno));
  KNLP_CHECK(::rename(tmp.c_str(), path.c_str()) == 0, "fs", "cannot rename {} to {}: {}",
             tmp.string(), path.string(), std::strerror(errno));
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  KNLP_CHECK_INPUT(in.good(), path.string(), "cannot open: {}", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void replace_symlink(const fs::path& link, const fs::path& target) {
  fs::path tmp = link;
  tmp += fmt::format(".tmp.{}", ::getpid());
  ::unlink(tmp.c_str());
  KNLP_CHECK(::symlink(target.c_str(), tmp.c_str()) == 0, "fs", "cannot create link {}: {}",
             tmp.string(), std::strerror(errno));
  KNLP_CHECK(::rename(tmp.c_str(), link.c_str()) == 0, "fs", "cannot rename {} to {}: {}",
             tmp.string(), link.string(), std::strerror(errno));
}

}  // namespace knlp
