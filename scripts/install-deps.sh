#!/usr/bin/env bash
# install-deps.sh - install what knlp needs to build, test and train.
#
# Idempotent: every step checks first and does nothing when already done.
#   1. Debian packages (compiler libraries, GoogleTest, datasets).
#   2. A Python virtual environment outside the work tree, shared by every
#      clone: $KNLP_VENV (default ~/.cache/knlp/venv) with torch (LibTorch
#      comes from its wheel), kconfiglib, matplotlib and regex (the
#      reference GPT-2 tokenizer in tests/).
# When not root, it prints the exact command to run instead of failing.
set -euo pipefail

KNLP_VENV=${KNLP_VENV:-$HOME/.cache/knlp/venv}
TORCH_VERSION=${TORCH_VERSION:-2.11.0}
PY_PACKAGES=("torch==$TORCH_VERSION" "kconfiglib==14.1.0" "matplotlib" "numpy" "safetensors" "regex")
DEB_PACKAGES=(build-essential cmake ninja-build ccache pkg-config python3-venv
	nlohmann-json3-dev libspdlog-dev libcli11-dev libgtest-dev zlib1g-dev libicu-dev
	dataset-fashion-mnist bible-kjv-text linux-doc-6.1)

say() { printf '  %-7s %s\n' "$1" "$2"; }

missing_debs() {
	local p
	for p in "${DEB_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"
	done
}

install_debs() {
	local need
	need=$(missing_debs | tr '\n' ' ')
	if [ -z "$need" ]; then
		say DEB "all Debian packages present"
		return
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "knlp: error: missing Debian packages: $need" >&2
		echo "hint: sudo apt-get update && sudo apt-get install -y $need" >&2
		exit 1
	fi
	say DEB "installing $need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need >/dev/null
}

venv_ok() {
	[ -x "$KNLP_VENV/bin/python" ] &&
		"$KNLP_VENV/bin/python" - "$TORCH_VERSION" <<'PY' 2>/dev/null
import sys, importlib
import torch, kconfiglib, matplotlib, numpy, safetensors, regex  # noqa: F401
sys.exit(0 if torch.__version__.split("+")[0] == sys.argv[1] else 1)
PY
}

install_venv() {
	if venv_ok; then
		say VENV "$KNLP_VENV ready (torch $TORCH_VERSION)"
		return
	fi
	say VENV "creating $KNLP_VENV"
	mkdir -p "$(dirname "$KNLP_VENV")"
	[ -x "$KNLP_VENV/bin/python" ] || python3 -m venv "$KNLP_VENV"
	"$KNLP_VENV/bin/python" -m pip install -q --upgrade pip
	"$KNLP_VENV/bin/python" -m pip install -q "${PY_PACKAGES[@]}"
	venv_ok || { echo "knlp: error: $KNLP_VENV: torch $TORCH_VERSION did not import after install" >&2; exit 1; }
}

install_debs
install_venv
