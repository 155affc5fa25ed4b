#!/usr/bin/env bash
# `knlp bench decode --quick`: every format checked against the reference and
# timed, the JSON written where asked, with the bytes per step worked out by
# hand; an unknown --isa exits 2 with one line. Args: knlp, python, source dir.
set -euo pipefail
knlp=$1 py=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$knlp" bench decode --quick --threads 1 --json "$tmp/out/kv.json" >"$tmp/log" 2>&1 ||
	{ cat "$tmp/log"; exit 1; }
"$py" - "$tmp/out/kv.json" <<'PY'
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

if "$knlp" bench decode --quick --isa avx1024 >"$tmp/log" 2>"$tmp/err"; then
	echo "bad --isa: exit 0"; exit 1
else
	rc=$?
fi
[ "$rc" -eq 2 ] || { echo "bad --isa: exit $rc, want 2"; cat "$tmp/err"; exit 1; }
grep -q "^knlp: error: .*--isa: 'avx1024' is not an instruction set of this CPU; accepted: " "$tmp/err" ||
	{ cat "$tmp/err"; exit 1; }
echo "kv_bench: ok"
