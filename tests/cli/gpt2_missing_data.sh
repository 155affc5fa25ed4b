#!/usr/bin/env bash
# GPT-2 without its data: `knlp run` exits 2 with one line that names the files
# it expects and the command that prepares them, and `make MAX_ITERS=`-style
# overrides of the GPT-2 symbols are accepted.  Args: knlp binary, python, source dir.
set -euo pipefail
KNLP=$1 PY=$2 SRC=$3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

check() {  # defconfig line for the dataset, text the error must contain
	printf 'CONFIG_MODEL_SELECT_GPT2=y\n%s\nCONFIG_DATA_DIR="%s/data"\nCONFIG_OUTPUT_DIR="%s/out"\nCONFIG_DEVICE="cpu"\n' \
		"$1" "$TMP" "$TMP" >"$TMP/defconfig"
	(cd "$SRC" && KCONFIG_CONFIG="$TMP/.config" "$PY" scripts/kconfig.py defconfig "$TMP/defconfig" >/dev/null)
	set +e
	"$KNLP" run --config "$TMP/.config" --set GPT2_MAX_ITERS=3 --set GPT2_MAX_TIME=60 --quiet \
		>/dev/null 2>"$TMP/err"
	rc=$?
	set -e
	cat "$TMP/err"
	[ "$rc" -eq 2 ] || { echo "FAIL: exit $rc, expected 2" >&2; exit 1; }
	[ "$(wc -l <"$TMP/err")" -eq 1 ] || { echo "FAIL: not one line" >&2; exit 1; }
	grep -q "$TMP/data/$3/train.bin" "$TMP/err"
	grep -q -- "$2" "$TMP/err"
}
check CONFIG_GPT2_DATASET_KERNEL_DOCS=y "make data-kernel-docs" kernel-docs
check CONFIG_GPT2_DATASET_FINEWEBEDU=y "knlp data prepare" finewebedu
echo ok
