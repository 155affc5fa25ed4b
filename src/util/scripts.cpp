// util/scripts.cpp - run a Python script of the source tree and read its output.
#include "util/scripts.h"

#include <fmt/format.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "util/check.h"
#include "util/fs.h"

#ifndef KNLP_SOURCE_DIR
#define KNLP_SOURCE_DIR "."
#endif
#ifndef KNLP_PYTHON
#define KNLP_PYTHON "python3"
#endif

namespace knlp {

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A shell command's first line of output, or "" when it fails.
std::string first_line_of(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[256];
    if (std::fgets(buf, sizeof buf, p)) out = buf;
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

std::filesystem::path source_dir() { return env_or("KNLP_SOURCE_DIR", KNLP_SOURCE_DIR); }

std::string script_command(const std::string& script, const std::vector<std::string>& args) {
  std::string cmd = fmt::format("cd {} && {} scripts/{}", shell_quote(source_dir().string()),
                                shell_quote(env_or("KNLP_PYTHON", KNLP_PYTHON)), script);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  return cmd;
}

std::string git_revision() {
  auto rev = first_line_of(fmt::format("git -C {} describe --always --dirty --abbrev=12 2>/dev/null",
                                       shell_quote(source_dir().string())));
  return rev.empty() ? "unknown" : rev;
}

std::string run_script(const std::string& script, const std::vector<std::string>& args) {
  const auto err = std::filesystem::temp_directory_path() /
                   fmt::format("knlp-script-{}-{}.err", ::getpid(), script);
  const std::string cmd = script_command(script, args) + " 2>" + shell_quote(err.string());
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  KNLP_CHECK(p, script, "cannot start: {}", cmd);
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  std::string why;
  if (std::filesystem::exists(err)) {
    why = read_file(err);
    std::filesystem::remove(err);
  }
  while (!why.empty() && why.back() == '\n') why.pop_back();
  why = why.substr(why.rfind('\n') == std::string::npos ? 0 : why.rfind('\n') + 1);
  if (why.rfind("knlp: error: ", 0) == 0) why = why.substr(13);
  KNLP_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, fmt::format("scripts/{}", script),
             "failed ({}): {}", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
             why.empty() ? cmd : why);
  return out;
}

}  // namespace knlp
