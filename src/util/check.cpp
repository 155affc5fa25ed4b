#include "util/check.h"

#include <cstring>

namespace knlp {

Error::Error(std::string where, std::string subject, std::string message, ExitCode code)
    : std::runtime_error(where + ": " + subject + ": " + message),
      where_(std::move(where)),
      subject_(std::move(subject)),
      message_(std::move(message)),
      code_(code) {}

std::string Error::line() const { return what(); }

// Source paths are shown relative to the tree ("src/models/gpt2.cpp"), as compilers
// may pass absolute ones.
static std::string relative_source(const char* file) {
  const char* src = std::strstr(file, "/src/");
  if (src) return src + 1;
  const char* tests = std::strstr(file, "/tests/");
  return tests ? tests + 1 : file;
}

void raise(const char* file, int line, std::string_view subject, std::string message,
           ExitCode code) {
  throw Error(fmt::format("{}:{}", relative_source(file), line), std::string(subject),
              std::move(message), code);
}

void raise_at(std::string where, std::string_view subject, std::string message, ExitCode code) {
  throw Error(std::move(where), std::string(subject), std::move(message), code);
}

}  // namespace knlp
