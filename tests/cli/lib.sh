# lib.sh - helpers for the CLI tests (sourced). Each test gets: $1 knlp binary,
# $2 venv python, $3 source dir; it works in a fresh temp dir removed on exit.
set -euo pipefail
KNLP=$1 PY=$2 SRC=$3
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILS=0

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }

# expect_exit CODE DESCRIPTION -- command...: runs it, stderr to $WORK/err.
expect_exit() {
	local want=$1 what=$2
	shift 3
	local got=0
	"$@" >"$WORK/out" 2>"$WORK/err" || got=$?
	if [ "$got" -eq "$want" ]; then pass "$what (exit $got)"; else
		fail "$what: exit $got, expected $want"; cat "$WORK/err"; fi
}

# expect_stderr TEXT: the last command's stderr holds TEXT verbatim.
expect_stderr() {
	if grep -qF -- "$1" "$WORK/err"; then pass "stderr: $1"; else
		fail "stderr lacks: $1"; echo "--- stderr was:"; cat "$WORK/err"; fi
}

# json FILE EXPR: evaluates a python expression on the parsed JSON as `m`.
json() { "$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print($2)" "$1"; }

# make_config OUT [DEFCONFIG]: a .config from DEFCONFIG (default
# tests/cli/tiny-lenet5.defconfig) via kconfiglib.
make_config() {
	local defconfig=${2:-tests/cli/tiny-lenet5.defconfig}
	case $defconfig in /*) ;; *) defconfig=$SRC/$defconfig ;; esac
	(cd "$SRC" && KCONFIG_CONFIG="$1" "$PY" scripts/kconfig.py defconfig "$defconfig" >/dev/null)
}

finish() {
	if [ "$FAILS" -eq 0 ]; then echo "all checks passed"; exit 0; fi
	echo "$FAILS checks failed"; exit 1
}
