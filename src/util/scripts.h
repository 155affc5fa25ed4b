// util/scripts.h - the Python scripts of the source tree (plots, kconfiglib).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace knlp {

// The source tree: $KNLP_SOURCE_DIR, else the one knlp was built from.
std::filesystem::path source_dir();

// The shell command `cd <source> && <python> scripts/<script> args...`, every word
// quoted; python is $KNLP_PYTHON, else the venv's python knlp was built with.
std::string script_command(const std::string& script, const std::vector<std::string>& args);

// `git describe` of the source tree (its commit, -dirty when it has changes),
// or "unknown" outside a git checkout.
std::string git_revision();

// Runs script_command() and returns its stdout. Throws Error (exit 1) with the
// script's last stderr line when it fails.
std::string run_script(const std::string& script, const std::vector<std::string>& args);

}  // namespace knlp
