#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer targets of Fuzz/ (Swift's -sanitize=fuzzer,address, in .build-fuzz), writes
# their seed corpora from real files, runs every target for FUZZ_SECONDS (default 60) and prints, per target,
# executions, executions per second, coverage (libFuzzer's cov: edges and ft: features) and crashes.
# Corpora grow across runs in .build-fuzz/corpus/<target>; crashing inputs land in .build-fuzz/crashes/<target>.
# FUZZ_TARGETS="a b" restricts the run. Exits non-zero if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
scratch=.build-fuzz
swift=${SWIFT:-swift}

# A fixed environment: SwiftPM rebuilds every module when the environment it sees changes (make's MAKEFLAGS,
# FUZZ_SECONDS, ...), and Package.swift adds the fuzz target only when SEGVIZ_FUZZ is set.
env -i PATH="$PATH" HOME="$HOME" SEGVIZ_FUZZ=1 "$swift" build --scratch-path "$scratch" --product segviz-fuzz \
    --sanitize=fuzzer --sanitize=address \
    -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp 2>&1 | grep -v 'warning: Cannot export local symbol' >&2
bin="$scratch/debug/segviz-fuzz"
# The swift driver links libFuzzer for --sanitize=fuzzer but does not pass -sanitize-coverage to the frontend
# itself; without the explicit flag above, libFuzzer runs blind ("is the code instrumented for coverage?").

export TMPDIR="$PWD/$scratch/tmp"
rm -rf "$TMPDIR" "$scratch/seeds" && mkdir -p "$TMPDIR" "$scratch/logs"
SEGVIZ_FUZZ_SEEDS="$scratch/seeds" ASAN_OPTIONS=detect_leaks=0 "$bin" >/dev/null
targets=${FUZZ_TARGETS:-$(ls "$scratch/seeds")}

crashed=0
printf '%-24s %12s %9s %7s %7s %8s\n' target execs exec/s cov ft crashes
for t in $targets; do
    mkdir -p "$scratch/corpus/$t" "$scratch/crashes/$t"
    log="$scratch/logs/$t.log"
    set +e
    # SWIFT_BACKTRACE off: the Swift runtime's crash handler reads memory ASan then reports instead of the fault.
    # Leak detection off: Foundation's Data(contentsOf:) leaks its 4 KiB buffer on an empty file (dataset-json's
    # empty input); with it on, the other targets ran clean.
    SEGVIZ_FUZZ_TARGET="$t" ASAN_OPTIONS=detect_leaks=0 SWIFT_BACKTRACE=enable=no "$bin" "$scratch/corpus/$t" "$scratch/seeds/$t" \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=20 -rss_limit_mb=3072 -max_len=65536 \
        -artifact_prefix="$scratch/crashes/$t/" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 | awk '{print $2, $4}')
    found=$(find "$scratch/crashes/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
    if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then crashed=1; fi
    printf '%-24s %12s %9s %7s %7s %8s\n' "$t" "${execs:-?}" "${rate:-?}" ${cov:-? ?} "$found"
done
rm -rf "$TMPDIR"
if [ "$crashed" -ne 0 ]; then
    echo "fuzz: crashes found; inputs in $scratch/crashes/<target>/, logs in $scratch/logs/ (replay: SEGVIZ_FUZZ_TARGET=<t> $bin <file>)" >&2
    exit 1
fi
