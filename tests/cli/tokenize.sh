#!/usr/bin/env bash
# knlp tokenize through the real binary: known ids, where the vocabulary
# comes from (--vocab-dir over KNLP_VOCAB_DIR over .config), the one-line
# error for a missing vocabulary, and the ids of a sample of the kernel's
# documentation plus hard cases against tests/reference_bpe.py, a separate
# Python implementation (the `regex` module runs GPT-2's pattern).
# Exit 77 (skipped) without the GPT-2 vocabulary beside the tree.
set -euo pipefail
knlp=$1 py=$2 src=$3
vocab=$src/../shared/data/gpt2
docs=/usr/share/doc/linux-doc-6.1/Documentation
if [ ! -f "$vocab/encoder.json" ]; then
	echo "SKIP: no GPT-2 vocabulary in $vocab"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }

# The vocabulary's README: "Hello world" -> 15496,995; <|endoftext|> -> 50256.
got=$(printf 'Hello world<|endoftext|>' | "$knlp" tokenize --vocab-dir "$vocab" -)
[ "$got" = "15496,995,50256" ] || fail "Hello world<|endoftext|> gave $got"
printf ' Hello world' >hello.txt
got=$(KNLP_VOCAB_DIR=$vocab "$knlp" tokenize hello.txt)
[ "$got" = "18435,995" ] || fail "' Hello world' with KNLP_VOCAB_DIR gave $got"

# A missing vocabulary: exit 2, one line naming the file; --vocab-dir beats the
# environment, which beats the .config.
echo 'CONFIG_GPT2_VOCAB_DIR="from-config"' >.config
set +e
"$knlp" tokenize hello.txt 2>err
rc=$?
set -e
[ $rc -eq 2 ] || fail "missing vocabulary: exit $rc, want 2"
[ "$(wc -l <err)" -eq 1 ] || fail "missing vocabulary: want one line, got: $(cat err)"
grep -q "^knlp: error: from-config/encoder.json: tokenizer: missing; download it from https://" err ||
	fail "missing vocabulary: $(cat err)"
set +e
KNLP_VOCAB_DIR=from-env "$knlp" tokenize hello.txt 2>err
set -e
grep -q "^knlp: error: from-env/encoder.json" err || fail "KNLP_VOCAB_DIR not used: $(cat err)"
got=$(KNLP_VOCAB_DIR=from-env "$knlp" tokenize --vocab-dir "$vocab" hello.txt)
[ "$got" = "18435,995" ] || fail "--vocab-dir did not override KNLP_VOCAB_DIR: $got"
rm .config

# Against the reference: hard cases, then 40 files of the kernel's documentation.
printf "I'm sure they'll say it's done, we've 'RE' isn't DON'T\n\n\n  x\t \r\n  " >sample
printf 'caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e 2024 \xf0\x9f\xa4\x97!!  ' >>sample
printf 'bad \xff\xfe bytes \xed\xa0\x80 \xe2\x82 cut a\xc0\xafb <|endoftext|>after\n' >>sample
if [ -d "$docs" ]; then
	find "$docs" -name '*.rst.gz' | LC_ALL=C sort >list
	sed -n 1,40p list | xargs zcat >>sample
fi
"$knlp" tokenize --vocab-dir "$vocab" sample >knlp.ids
"$py" "$src/tests/reference_bpe.py" "$vocab" sample >ref.ids
n=$(tr ',' '\n' <ref.ids | wc -l)
if ! cmp -s knlp.ids ref.ids; then
	tr ',' '\n' <knlp.ids >a
	tr ',' '\n' <ref.ids >b
	fail "knlp and reference_bpe.py differ on $(wc -c <sample) bytes: $(diff a b | head -5 | tr '\n' ' ')"
fi
echo "ok: $(wc -c <sample) bytes, $n tokens identical to reference_bpe.py"
