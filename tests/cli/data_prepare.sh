#!/usr/bin/env bash
# knlp data prepare through the real binary: a small tree with the byte
# tokenizer (no vocabulary needed), the tokenizer taken from a .config,
# and the exit status and one-line message of bad usage.
set -euo pipefail
knlp=$1 py=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p docs/sub
for i in 1 2 3 4 5 6 7 8; do printf 'document number %d\n' "$i" >"docs/sub/d$i.txt"; done
printf 'gzipped document\n' | gzip >docs/z.txt.gz
echo 'CONFIG_GPT2_TOKENIZER="byte"' >.config
"$knlp" data prepare docs --out out --val-fraction 0.3 -q >log ||
	fail "prepare failed: $(cat log)"
"$py" - <<'PY' || fail "manifest or files wrong"
import json, os
m = json.load(open("out/manifest.json"))
assert m["tokenizer"] == {"name": "byte", "vocab_size": 256, "eot": 0}, m["tokenizer"]
docs = m["train"]["documents"] + m["val"]["documents"]
assert docs == 9 and m["files"] == 9, m
# 8 documents of 18 bytes, one of 17, each followed by eot.
assert m["train"]["tokens"] + m["val"]["tokens"] == 8 * 19 + 18, m
for s in ("train", "val"):
    assert os.path.getsize(f"out/{s}.bin") == 2 * m[s]["tokens"], s
PY
grep -q "train: .* documents, .* tokens; val: .* documents, .* tokens" log ||
	fail "no summary line: $(cat log)"

set +e
"$knlp" data prepare docs --out out2 --tokenizer bpe -q 2>err
rc=$?
set -e
[ $rc -eq 2 ] || fail "unknown tokenizer: exit $rc, want 2"
grep -q "tokenizer: unknown tokenizer 'bpe'; accepted: gpt2, byte" err || fail "$(cat err)"
[ ! -e out2/train.bin ] || fail "a failed run wrote out2/train.bin"
echo "ok"
