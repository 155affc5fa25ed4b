#!/usr/bin/env bash
# `knlp generate` on a tiny byte-level GPT-2 that has learned one sentence: the
# greedy continuation of "The kernel" is the sentence; a bad checkpoint name
# is a usage error.  Args: knlp binary, venv python, source dir.
source "$(dirname "$0")/lib.sh"

train_sentence_gpt2 500
out=$("$KNLP" generate "$WORK/run" --prompt "The kernel" --max-tokens 40 --temperature 0)
echo "generated: $out"
case "$out" in
"The kernel schedules tasks. The kernel sch"*) ;;
*) echo "FAIL: expected the learned sentence" >&2; exit 1 ;;
esac
# Sampling with the run's defaults (temperature 0.8, top-k 200) prints text too.
[ -n "$("$KNLP" generate "$WORK/run" --prompt "The kernel" --max-tokens 10 --seed 3)" ]
set +e
"$KNLP" generate "$WORK/run" --prompt x --checkpoint newest 2>"$WORK/err"
rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "FAIL: exit $rc for a bad checkpoint name" >&2; exit 1; }
grep -q "accepted: best, last" "$WORK/err"
echo ok
