#!/usr/bin/env bash
# `knlp bench decode --quick`: every format checked against the reference and
# timed, the JSON written where asked, with the bytes per step worked out by
# hand; --batch/--context keep only those shapes; an unknown --isa, or a
# shape the grid lacks, exits 2 with one line. Args: knlp, python, source dir.
source "$(dirname "$0")/lib.sh"

if "$KNLP" bench decode --quick --threads 1 --json "$WORK/bench/kv.json" >"$WORK/log" 2>&1; then
	pass "bench decode --quick"
else
	fail "bench decode --quick"; cat "$WORK/log"
fi
"$PY" - "$WORK/bench/kv.json" <<'PY' && pass "JSON: formats, bytes per step, GB/s, errors" || fail "JSON"
import json, sys
doc = json.load(open(sys.argv[1]))
rows = doc["results"]
# bytes per token and head at head_dim 64, K + V, rows plus FP16 scales per 32 channels
per_token = {"fp32": 512, "bf16": 256, "int8": 2 * (64 + 4), "k8v4": 68 + 36, "int4": 2 * (32 + 4)}
kernels = {(r["format"], r["kernel"]) for r in rows}
want = {(f, "fused") for f in per_token} | {("fp32", "sdpa"), ("int4", "unfused")}
assert kernels == want, kernels
assert len(rows) == 3 * len(want), len(rows)
for r in rows:
    tokens = r["batch"] * r["heads"] * r["context"]
    assert r["bytes_per_step"] == tokens * per_token[r["format"]], r
    assert 0 < r["min_ms"] <= r["median_ms"], r
    assert abs(r["gbps"] - r["bytes_per_step"] / r["median_ms"] / 1e6) < 1e-6 * r["gbps"], r
    if r["kernel"] == "fused":
        assert r["max_abs_err"] <= 1e-4, r
assert doc["bandwidth"]["copy_gbps"] > 0 and doc["threads"] == 1
PY

"$KNLP" bench decode --quick --threads 1 --batch 4 --context 1024 --json "$WORK/one.json" >/dev/null 2>&1
[ "$(json "$WORK/one.json" 'sorted({(r["batch"], r["context"]) for r in m["results"]}), len(m["results"])')" = \
	"[(4, 1024)] 7" ] && pass "--batch 4 --context 1024: that shape only" || fail "--batch/--context"

expect_exit 2 "a context the grid lacks" -- "$KNLP" bench decode --quick --context 3000
expect_stderr "--batch/--context: no shape of the grid has them"

expect_exit 2 "an unknown --isa" -- "$KNLP" bench decode --quick --isa avx1024
expect_stderr "--isa: 'avx1024' is not an instruction set of this CPU; accepted: "

finish
