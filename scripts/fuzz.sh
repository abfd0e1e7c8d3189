#!/bin/sh
# fuzz.sh BUDGET PKG:FUNC...: run each fuzz target for BUDGET (-fuzztime:
# a duration such as 10m, or an execution count such as 300000x).
#
# Go's fuzz coordinator up to 1.26 can fail a run that found nothing with a
# bare "context deadline exceeded" when a duration budget ends while a worker
# is busy (golang/go#75804). Counts never race, so `make fuzz-smoke` uses one;
# for durations a failure counts only if it wrote a reproducer to
# testdata/fuzz/FUNC, which is what a real finding always does.
set -u
budget=$1
shift
for t in "$@"; do
	pkg=${t%%:*}
	fn=${t##*:}
	dir=$pkg/testdata/fuzz/$fn
	before=$(find "$dir" -type f 2>/dev/null | wc -l)
	echo "fuzz $fn ($pkg) $budget"
	log=$(mktemp)
	if ${GO:-go} test -run='^$' -fuzz="^$fn\$" -fuzztime="$budget" "$pkg" >"$log" 2>&1; then
		tail -n 3 "$log"
		rm -f "$log"
		continue
	fi
	cat "$log"
	after=$(find "$dir" -type f 2>/dev/null | wc -l)
	if [ "$after" -eq "$before" ] && grep -q 'context deadline exceeded' "$log" &&
		! grep -q -e 'panic:' -e 'Failing input written' "$log"; then
		echo "fuzz $fn: no reproducer written; the deadline race of golang/go#75804, not a finding"
		rm -f "$log"
		continue
	fi
	rm -f "$log"
	echo "fuzz $fn: FAILED (reproducer in $dir; it runs as a unit test from now on)" >&2
	exit 1
done
