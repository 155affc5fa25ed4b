#!/usr/bin/env bash
# check-includes.sh - module dependencies point one way (STYLE.md §1):
#   cli -> matrix -> train -> {models, optim, prune, kv} -> data -> config -> util
# A module may include itself and anything in a lower layer, never a sibling
# of its own layer or anything above it: models never see optim or prune; the
# trainer is where they meet. Prints each bad edge; exit 1 if any.
set -euo pipefail
cd "$(dirname "$0")/../src"

declare -A layer=([util]=0 [config]=1 [data]=2 [models]=3 [optim]=3 [prune]=3 [kv]=3
	[train]=4 [matrix]=5 [cli]=6)
bad=0
for dir in */; do
	mod=${dir%/}
	[ -n "${layer[$mod]:-}" ] || { echo "src/$mod: module missing from check-includes.sh"; bad=1; continue; }
	while IFS=: read -r file line inc; do
		dep=$(sed -E 's/.*#include "([a-z_]+)\/.*/\1/' <<<"$inc")
		[ "$dep" = "$mod" ] && continue
		[ "$dep" = generated ] && continue
		if [ -z "${layer[$dep]:-}" ] || [ "${layer[$dep]}" -ge "${layer[$mod]}" ]; then
			echo "src/$file:$line: $mod includes $dep (layer ${layer[$dep]:-?} >= ${layer[$mod]})"
			bad=1
		fi
	done < <(grep -rn '^#include "[a-z_]*/' "$mod" || true)
done
exit $bad
