// matrix/scripts.h - private to matrix/: the Python scripts of the source tree.
#pragma once

#include <string>
#include <vector>

namespace knlp {

// Runs `python scripts/<script> args...` in the source tree (KNLP_PYTHON and
// KNLP_SOURCE_DIR from the environment, else as built) and returns its stdout.
// Throws Error (exit 1) with the script's last stderr line when it fails.
std::string run_script(const std::string& script, const std::vector<std::string>& args);

}  // namespace knlp
