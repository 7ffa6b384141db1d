#!/usr/bin/env bash
# Builds every libFuzzer target (Fuzz/Fuzz*.swift) and runs each for SECONDS seconds.
#
#   bash Fuzz/run.sh [SECONDS]        default 60
#
# Needs the Swift toolchain (SWIFT_TOOLCHAIN, default /opt/swift/usr/bin, else swiftc on PATH),
# libpcap-dev and python3 (for the seeds). No SwiftPM, no network. Artifacts: .build-fuzz/.
# Each target gets a fresh corpus in a temporary directory, seeded from the classic pcap files
# in Tests/Fixtures and ../shared/corpus. Crash, leak and timeout inputs are written to
# Fuzz/crashes/<target>-crash-<sha1> (or leak-, timeout-, oom-); libFuzzer's log is kept in
# .build-fuzz/logs/<target>.log. Exits 1 when any target found something, 2 on a build failure.
#
# Fuzz/corpus/<target>/ (kept in git, minimised) seeds each run besides the generated seeds;
# FUZZ_KEEP=1 merges what the run found back into it (libFuzzer -merge=1: only inputs that add
# coverage). The long campaign: `FUZZ_JOBS=2 FUZZ_KEEP=1 bash Fuzz/run.sh 3600` (an hour per
# target, two at a time); CI runs 60 s per target.
#
# Environment: FUZZ_TARGETS (which to run, e.g. "FuzzStream FuzzConfig"; default all), FUZZ_OPT (Swift optimisation flags, default "-O -assert-config Debug": optimised,
# with the standard library's debug bounds checks on unsafe buffers kept), FUZZ_TIMEOUT (seconds
# one input may take, default 10), FUZZ_JOBS (targets run at once, default 1), FUZZ_ARGS (more
# libFuzzer flags), FUZZ_TRACE_CMP=0 (no comparison tracing, see below), GATEWAYD_FUZZ_FRESH=1 (FuzzPacket: new state per input, to check a crash).
set -euo pipefail

SECONDS_PER_TARGET=${1:-60}
case $SECONDS_PER_TARGET in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac

ROOT=${GATEWAYD_FUZZ_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# bash reads a script while it runs it: a campaign runs from a copy, so that editing this file
# meanwhile cannot change what the running one does (it once cut the merge step in half and
# deleted the kept corpus it was about to replace).
if [[ -z ${GATEWAYD_FUZZ_ROOT:-} ]]; then
    copy=$(mktemp "${TMPDIR:-/tmp}/gatewayd-fuzz-run.XXXXXX")
    cp "${BASH_SOURCE[0]}" "$copy"
    GATEWAYD_FUZZ_ROOT=$ROOT GATEWAYD_FUZZ_COPY=$copy exec bash "$copy" "$@"
fi
# The copy goes at once: bash keeps it open and reads on from the unlinked file.
[[ -n ${GATEWAYD_FUZZ_COPY:-} ]] && rm -f "$GATEWAYD_FUZZ_COPY"
cd "$ROOT"
OUT=${FUZZ_OUT:-.build-fuzz}
LOGS=$OUT/logs
CRASHES=Fuzz/crashes

TOOLCHAIN=${SWIFT_TOOLCHAIN:-/opt/swift/usr/bin}
if [[ -x $TOOLCHAIN/swiftc ]]; then
    SWIFTC=$TOOLCHAIN/swiftc
else
    SWIFTC=$(command -v swiftc) || { echo "run.sh: no swiftc (set SWIFT_TOOLCHAIN)" >&2; exit 2; }
    TOOLCHAIN=$(dirname "$SWIFTC")
fi
# The toolchain's clang matches swiftc's sanitizer runtimes; cc is a fallback (no coverage there).
if [[ -x $TOOLCHAIN/clang ]]; then
    CC=$TOOLCHAIN/clang; CFLAGS="-fsanitize=fuzzer-no-link,address"
else
    CC=cc; CFLAGS=""
fi
read -r -a OPT <<< "${FUZZ_OPT:--O -assert-config Debug}"
SANITIZE=(-sanitize=fuzzer,address -parse-as-library -g "${OPT[@]}")
# FUZZ_TRACE_CMP=0: coverage by edges only, without libFuzzer's comparison tracing. FuzzNode
# spends about 70 % of its time in the tracing hooks (every byte the scanner compares, over
# the three hops a request makes), so this runs it about 3x faster; the scanners' comparisons
# stay traced in FuzzSIP, FuzzStream and FuzzPacket.
if [[ ${FUZZ_TRACE_CMP:-1} == 0 ]]; then
    SANITIZE+=(-sanitize-coverage=edge,pc-table,inline-8bit-counters)
fi
TIMEOUT=${FUZZ_TIMEOUT:-10}
JOBS=${FUZZ_JOBS:-1}
read -r -a EXTRA <<< "${FUZZ_ARGS:-}"

mkdir -p "$OUT" "$LOGS" "$CRASHES"

build() {
    echo "== building into $OUT ($SWIFTC ${OPT[*]})"
    local basics sip capture loadmeter
    mapfile -t basics < <(find Sources/Basics -name '*.swift' | LC_ALL=C sort)
    mapfile -t sip < <(find Sources/SIP -name '*.swift' | LC_ALL=C sort)
    mapfile -t capture < <(find Sources/Capture -name '*.swift' | LC_ALL=C sort)
    mapfile -t loadmeter < <(find Sources/LoadMeter -name '*.swift' | LC_ALL=C sort)

    # `set -e` does not apply inside a function called from `if`: every step checks itself, and
    # old outputs go first so that a failed step cannot leave a stale one to link against.
    rm -f "$OUT/csystem.o" "$OUT"/lib*.a "$OUT"/*.swiftmodule
    "$CC" $CFLAGS -g -O1 -c -I Sources/CSystem/include Sources/CSystem/csystem.c -o "$OUT/csystem.o" || return 1

    "$SWIFTC" "${SANITIZE[@]}" -emit-module -emit-library -static -module-name Basics \
        -I Sources/CSystem/include "${basics[@]}" \
        -emit-module-path "$OUT/Basics.swiftmodule" -o "$OUT/libBasics.a" || return 1

    "$SWIFTC" "${SANITIZE[@]}" -emit-module -emit-library -static -module-name SIP \
        -I "$OUT" -I Sources/CSystem/include "${sip[@]}" \
        -emit-module-path "$OUT/SIP.swiftmodule" -o "$OUT/libSIP.a" || return 1

    "$SWIFTC" "${SANITIZE[@]}" -emit-module -emit-library -static -module-name Capture -I "$OUT" \
        -I Sources/CPcap -I Sources/CSystem/include "${capture[@]}" \
        -emit-module-path "$OUT/Capture.swiftmodule" -o "$OUT/libCapture.a" || return 1

    # -enable-testing: FuzzSIP uses `@testable import LoadMeter` for two internal helpers.
    "$SWIFTC" "${SANITIZE[@]}" -enable-testing -emit-module -emit-library -static -module-name LoadMeter \
        -I "$OUT" -I Sources/CPcap -I Sources/CSystem/include "${loadmeter[@]}" \
        -emit-module-path "$OUT/LoadMeter.swiftmodule" -o "$OUT/libLoadMeter.a" || return 1

    local gatewaycore
    mapfile -t gatewaycore < <(find Sources/GatewayCore -name '*.swift' | LC_ALL=C sort)
    "$SWIFTC" "${SANITIZE[@]}" -emit-module -emit-library -static -module-name GatewayCore \
        -I "$OUT" -I Sources/CPcap -I Sources/CSystem/include "${gatewaycore[@]}" \
        -emit-module-path "$OUT/GatewayCore.swiftmodule" -o "$OUT/libGatewayCore.a" || return 1

    # FuzzConfig: the config reader and its checks, from the executable's sources (the key
    # table, types, whole-file checks; the sub-command that prints the reference left out).
    local config
    mapfile -t config < <(find Sources/gatewayd/Config -name '*.swift' ! -name ConfigReference.swift | LC_ALL=C sort)
    "$SWIFTC" "${SANITIZE[@]}" -enable-testing -emit-module -emit-library -static -module-name GatewaydConfig \
        -I "$OUT" -I Sources/CPcap -I Sources/CSystem/include -I Sources/CInih "${config[@]}" Sources/gatewayd/Output.swift \
        -emit-module-path "$OUT/GatewaydConfig.swiftmodule" -o "$OUT/libGatewaydConfig.a" || return 1

    local source name
    for source in Fuzz/Fuzz*.swift; do
        name=$(basename "$source" .swift)
        rm -f "$OUT/$name"  # a stale binary must not pass for a fresh one
        "$SWIFTC" "${SANITIZE[@]}" -module-name "$name" \
            -I "$OUT" -I Sources/CPcap -I Sources/CSystem/include -I Sources/CInih "$source" \
            -L "$OUT" -lGatewaydConfig -lGatewayCore -lLoadMeter -lCapture -lSIP -lBasics "$OUT/csystem.o" -linih -lpcap -lm -o "$OUT/$name" 2>&1 \
            | { grep -v -e 'ld.gold: warning' -e '^$' || true; }
        (( PIPESTATUS[0] == 0 )) || { echo "run.sh: $name did not build" >&2; return 1; }
        [[ -x $OUT/$name ]] || { echo "run.sh: $name did not link" >&2; return 1; }
    done
}

if ! build; then
    echo "BUILD FAILED" >&2
    exit 2
fi

# Seeds, once, then copied into each target's fresh corpus.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatewayd-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
pcaps=()
for f in Tests/Fixtures/*.pcap Tests/Fixtures/*.pcapng ../shared/corpus/*.pcap ../shared/corpus/*.pcapng; do
    [[ -f $f ]] && pcaps+=("$f")
done
mkdir -p "$WORK/seeds/FuzzPacket" "$WORK/seeds/FuzzSIP" "$WORK/seeds/FuzzCaptureFile"
# FuzzCaptureFile: the project's own capture files, cut to the longest input (not the shared
# corpus: whole files from it would end up in the kept corpus).
for f in Tests/Fixtures/*.pcap Tests/Fixtures/*.pcapng; do
    head -c 65536 "$f" > "$WORK/seeds/FuzzCaptureFile/$(basename "$f")"
done
if command -v python3 >/dev/null; then
    python3 Fuzz/seed.py "$WORK/seeds/FuzzPacket" "$WORK/seeds/FuzzSIP" "${pcaps[@]}"
    # FuzzNode: the same SIP payloads, each as one datagram from a client to the entry node.
    mkdir -p "$WORK/seeds/FuzzNode"
    for seed in "$WORK/seeds/FuzzSIP"/*; do
        [[ -f $seed ]] && { printf '\000'; cat "$seed"; } > "$WORK/seeds/FuzzNode/$(basename "$seed")"
    done
    python3 Fuzz/seed_more.py "$WORK/seeds/FuzzStream" "$WORK/seeds/FuzzConfig" "$WORK/seeds/FuzzSIP" \
        Tests/Fixtures/rfc4475 docs/gatewayd.conf
else
    echo "run.sh: no python3, starting from empty corpora" >&2
fi

export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$TOOLCHAIN/llvm-symbolizer}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}
# Swift's own crash backtracer reads memory in ways ASan reports as overflows: leave crashes
# to libFuzzer and ASan.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}

run_target() {
    local name=$1 corpus=$WORK/corpus/$1
    mkdir -p "$corpus"
    if [[ -d $WORK/seeds/$name ]]; then cp -r "$WORK/seeds/$name/." "$corpus/"; fi
    # The corpus kept in the repository: what earlier campaigns found, minimised.
    if [[ -d Fuzz/corpus/$name ]]; then cp -r "Fuzz/corpus/$name/." "$corpus/"; fi
    local status=0
    "$OUT/$name" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -max_len=65536 \
        -timeout="$TIMEOUT" -print_final_stats=1 -artifact_prefix="$CRASHES/$name-" -dict=Fuzz/sip.dict \
        "${EXTRA[@]}" "$corpus" > "$LOGS/$name.log" 2>&1 || status=$?
    echo "$status" > "$WORK/$name.status"
    if [[ ${FUZZ_KEEP:-0} == 1 && $status == 0 ]]; then
        # Back into the repository's corpus, minimised: only inputs that add coverage.
        local kept=$WORK/kept/$name
        mkdir -p "$kept" "Fuzz/corpus/$name"
        "$OUT/$name" -merge=1 -rss_limit_mb=2048 -max_len=65536 -timeout="$TIMEOUT" "$kept" \
            "Fuzz/corpus/$name" "$corpus" > "$LOGS/$name.merge.log" 2>&1 \
            && rm -rf "Fuzz/corpus/$name" && mv "$kept" "Fuzz/corpus/$name"
    fi
}

targets=()
if [[ -n ${FUZZ_TARGETS:-} ]]; then
    read -r -a targets <<< "$FUZZ_TARGETS"
else
    for source in Fuzz/Fuzz*.swift; do targets+=("$(basename "$source" .swift)"); done
fi
echo "== running ${targets[*]} for ${SECONDS_PER_TARGET}s each (logs in $LOGS)"
running=0
for name in "${targets[@]}"; do
    run_target "$name" &
    running=$((running + 1))
    if (( running >= JOBS )); then wait -n || true; running=$((running - 1)); fi
done
wait || true

failed=0
for name in "${targets[@]}"; do
    log=$LOGS/$name.log
    status=$(cat "$WORK/$name.status" 2>/dev/null || echo "?")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<< "$last")
    if [[ $status == 0 ]]; then
        printf '%-12s ok     runs=%s exec/s=%s cov=%s ft=%s corpus=%s\n' \
            "$name" "${runs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
    else
        failed=1
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        # A Swift trap prints "File.swift:line: Fatal error[: message]" before libFuzzer's report.
        trap_line=$(grep -m1 -E 'Fatal error' "$log" || true)
        kind=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-z-]+( signal| memory leaks)?|timeout after [0-9]+ seconds|out-of-memory' "$log" || true)
        printf '%-12s FAILED exit=%s runs=%s: %s%s; input: %s; log: %s\n' \
            "$name" "$status" "${runs:-?}" "${kind:-see log}" "${trap_line:+ ($trap_line)}" "${artifact:-none}" "$log"
        # The first report's stack without sanitizer, libFuzzer and runtime frames, demangled.
        awk '/ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)/ { on = 1; next }
             on && /^ +#[0-9]+ / { print; seen = 1; next }
             on && seen { exit }' "$log" \
            | grep -vE 'compiler-rt|/lib/fuzzer/|libc\.so|csu/|libswiftCore|Swift\.o|CrashCallback|LLVMFuzzerTestOneInput|_start ' | head -10 \
            | { "$TOOLCHAIN/swift-demangle" --simplified 2>/dev/null || cat; } | sed 's/^ */    /' || true
    fi
done
exit "$failed"
