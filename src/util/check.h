// util/check.h - knlp's one error type and the macros that raise it.
//
// Library code throws knlp::Error; only main() catches it, prints the one
// line `knlp: error: <where>: <subject>: <message>` and exits with the code
// the error carries (1: the run failed, 2: bad usage or configuration).
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace knlp {

enum class ExitCode : int { kRunFailed = 1, kBadInput = 2 };

class Error : public std::runtime_error {
 public:
  // where: "file:line" of the input (a .config line) or of the source that failed.
  // subject: the Kconfig symbol, field or subsystem the message is about.
  Error(std::string where, std::string subject, std::string message, ExitCode code);
  const std::string& where() const { return where_; }
  const std::string& subject() const { return subject_; }
  const std::string& message() const { return message_; }
  ExitCode code() const { return code_; }
  // The full one-line form printed by main (without the "knlp: error: " prefix).
  std::string line() const;

 private:
  std::string where_, subject_, message_;
  ExitCode code_;
};

// Throws Error with the caller's source location; used through the macros below.
[[noreturn]] void raise(const char* file, int line, std::string_view subject, std::string message,
                        ExitCode code);

// Throws Error naming an input location ("path:line") rather than a source line.
[[noreturn]] void raise_at(std::string where, std::string_view subject, std::string message,
                           ExitCode code = ExitCode::kBadInput);

}  // namespace knlp

// KNLP_CHECK(cond, subject, fmt, args...): a failed run (exit 1) when cond is false.
#define KNLP_CHECK(cond, subject, ...)                                                   \
  do {                                                                                   \
    if (!(cond))                                                                         \
      ::knlp::raise(__FILE__, __LINE__, subject, fmt::format(__VA_ARGS__),               \
                    ::knlp::ExitCode::kRunFailed);                                       \
  } while (0)

// KNLP_CHECK_INPUT(cond, subject, fmt, args...): bad configuration or usage (exit 2).
#define KNLP_CHECK_INPUT(cond, subject, ...)                                             \
  do {                                                                                   \
    if (!(cond))                                                                         \
      ::knlp::raise(__FILE__, __LINE__, subject, fmt::format(__VA_ARGS__),               \
                    ::knlp::ExitCode::kBadInput);                                        \
  } while (0)
