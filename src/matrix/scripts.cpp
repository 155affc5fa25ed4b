// matrix/scripts.cpp - run a Python script of the source tree and read its output.
#include "matrix/scripts.h"

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

}  // namespace

std::string run_script(const std::string& script, const std::vector<std::string>& args) {
  const auto src = env_or("KNLP_SOURCE_DIR", KNLP_SOURCE_DIR);
  const auto err = std::filesystem::temp_directory_path() /
                   fmt::format("knlp-script-{}-{}.err", ::getpid(), script);
  std::string cmd = fmt::format("cd {} && {} scripts/{}", shell_quote(src),
                                shell_quote(env_or("KNLP_PYTHON", KNLP_PYTHON)), script);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " 2>" + shell_quote(err.string());
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
