# Shared by the fixture scripts (sourced, not run): a work directory, every process they
# start killed on exit, tcpdump and SIPp bounded by timeouts. The sourcing script sets
# die(), HARD_TIMEOUT and SIPP_TIMEOUT first; WORK_PREFIX names the work directory.

WORK=$(mktemp -d "/tmp/${WORK_PREFIX:-make-fixtures}.XXXXXX")
PIDS=()          # every background process we started
TCPDUMP_PID=""

# forget PID : drop a reaped process from PIDS (its id may be reused)
forget() {
    local p keep=()
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    sleep 0.3
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- capture helpers -------------------------------------------------------

# start_capture NAME IFACE FILTER [extra tcpdump options...]
start_capture() {
    local name=$1 iface=$2 filter=$3
    shift 3
    rm -f "$WORK/$name" "$WORK/$name.err"
    timeout -k 5 120 tcpdump -i "$iface" -n --immediate-mode -U -Z root -s 262144 "$@" \
        -w "$WORK/$name" "$filter" 2>"$WORK/$name.err" &
    TCPDUMP_PID=$!
    PIDS+=("$TCPDUMP_PID")
    local i
    for i in $(seq 50); do
        grep -q "listening on" "$WORK/$name.err" 2>/dev/null && break
        kill -0 "$TCPDUMP_PID" 2>/dev/null || { cat "$WORK/$name.err" >&2; die "tcpdump failed"; }
        sleep 0.1
    done
    grep -q "listening on" "$WORK/$name.err" || die "tcpdump did not start"
    sleep 1
}

# stop_tcpdump NAME : stop the running tcpdump (SIGINT, so it flushes)
stop_tcpdump() {
    local name=$1 i
    sleep 0.5
    kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$TCPDUMP_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$TCPDUMP_PID" 2>/dev/null || true
    wait "$TCPDUMP_PID" 2>/dev/null || true
    forget "$TCPDUMP_PID"
    TCPDUMP_PID=""
    [ -s "$WORK/$name" ] || die "empty capture $name"
    echo "  $(grep -o '^[0-9]* packets captured' "$WORK/$name.err")"
}

# publish NAME : copy $WORK/NAME to $OUT/NAME
publish() {
    local n
    n=$(tshark -n -r "$WORK/$1" -Y sip 2>/dev/null | wc -l)
    [ "$n" -gt 0 ] || die "$1: tshark finds no SIP in it"
    install -m 0644 "$WORK/$1" "$OUT/$1"
    echo "  wrote $OUT/$1 ($(stat -c %s "$OUT/$1") bytes)"
}

# stop_capture NAME : stop tcpdump and publish the capture
stop_capture() {
    stop_tcpdump "$1"
    publish "$1"
}

# --- sipp helpers ----------------------------------------------------------
# All sipp runs happen in $WORK (no logs in the repo), with -nostdin, a
# bounded number of calls (-m) and a global timeout.

# sipp_bg LOG ARGS... : start a sipp (normally a UAS) in the background;
# sets SIPP_PID.
sipp_bg() {
    local log=$1
    shift
    (cd "$WORK" && exec timeout -k 5 "$HARD_TIMEOUT" sipp "$@" \
        -timeout "$SIPP_TIMEOUT" -timeout_error -nostdin >"$WORK/$log" 2>&1) &
    SIPP_PID=$!
    PIDS+=("$SIPP_PID")
    sleep 0.5
    kill -0 "$SIPP_PID" 2>/dev/null || { tail -20 "$WORK/$log" >&2; die "sipp ($log) did not start"; }
}

# sipp_run LOG ARGS... : run a sipp (normally a UAC) to completion.  It is
# started in the background and waited for, so that a signal to this script
# is handled (trap, cleanup) at once.
sipp_run() {
    local log=$1 rc=0 pid
    shift
    (cd "$WORK" && exec timeout -k 5 "$HARD_TIMEOUT" sipp "$@" \
        -timeout "$SIPP_TIMEOUT" -timeout_error -nostdin >"$WORK/$log" 2>&1) &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    forget "$pid"
    if [ "$rc" -ne 0 ]; then
        tail -25 "$WORK/$log" >&2
        die "sipp ($log) exited with $rc"
    fi
}

# sipp_wait PID LOG : wait for a background sipp to finish its -m calls.
sipp_wait() {
    local pid=$1 log=$2 rc=0
    wait "$pid" || rc=$?
    forget "$pid"
    if [ "$rc" -ne 0 ]; then
        tail -25 "$WORK/$log" >&2
        die "sipp ($log) exited with $rc"
    fi
}

# ports SIPLO SIPHI RTPLO RTPHI -> tcpdump filter for the SIP and RTP ports.
# (Ports 5072, 5084, 5094 are avoided: tshark decodes them as other protocols.)
ports() { echo "(udp or tcp) and (portrange $1-$2 or portrange $3-$4)"; }
