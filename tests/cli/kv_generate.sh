#!/usr/bin/env bash
# `knlp generate --kv` and `knlp perplexity` on a tiny byte-level GPT-2
# trained for a few steps: greedy text through the fused kernel equals the
# unfused reference (dequantize + SDPA) for int4 and K8/V4, fp32 rows equal
# the dense cache, no --kv means the Kconfig default K8/V4, an unknown format
# is one line and exit 2, and perplexity through an fp32 or dense cache
# equals the full forward pass.  Args: knlp binary, venv python, source dir.
source "$(dirname "$0")/lib.sh"

train_sentence_gpt2 40

gen() { "$KNLP" generate "$WORK/run" --prompt "The kernel" --max-tokens 60 --temperature 0 "$@"; }
same() {  # same WHAT ARGS_A -- ARGS_B: both generate the same text
	local what=$1 a b
	shift
	local -a left=()
	while [ "$1" != "--" ]; do left+=("$1"); shift; done
	shift
	a=$(gen "${left[@]}") b=$(gen "$@")
	if [ "$a" = "$b" ]; then pass "$what: '$a'"; else fail "$what: '$a' vs '$b'"; fi
}
same "int4 fused = unfused" --kv int4 -- --kv int4 --unfused
same "k8v4 fused = unfused" --kv k8v4 -- --kv k8v4 --unfused
same "fp32 rows = dense cache" --kv fp32 -- --kv dense
same "no --kv = k8v4" -- --kv k8v4
[ "$(gen --kv int4)" != "" ] || fail "no text"
expect_exit 2 "unknown --kv" -- "$KNLP" generate "$WORK/run" --prompt x --kv int3
expect_stderr "--kv: unknown KV cache format 'int3'; accepted: "

"$KNLP" perplexity "$WORK/run" --kv full,dense,fp32,int4 --tokens 200 --json "$WORK/ppl.json" >"$WORK/out"
cat "$WORK/out"
"$PY" - "$WORK/ppl.json" <<'PY' || fail "perplexity JSON"
import json, sys
rows = {r["kv"]: r for r in json.load(open(sys.argv[1]))["results"]}
full = rows["full"]["perplexity"]
assert rows["full"]["tokens"] == 200, rows
# fp32 rows and the dense cache lose nothing: fp32 rounding only
for kv in ("dense", "fp32"):
    assert abs(rows[kv]["perplexity"] / full - 1) < 1e-4, rows
# one layer: K and V x 2 heads x 32 positions x 32 channels x 4 bytes;
# int4: 16 bytes a row plus one FP16 scale
assert rows["fp32"]["cache_bytes_per_layer"] == 2 * 2 * 32 * 32 * 4, rows
assert rows["int4"]["cache_bytes_per_layer"] == 2 * 2 * 32 * (16 + 2), rows
assert rows["int4"]["perplexity"] < 2 * full, rows
PY
finish
