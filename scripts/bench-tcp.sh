#!/usr/bin/env bash
# Benchmark of one gatewayd node answering requests to connect over TCP (INVITE → 302 → ACK,
# SIPp -t t1: one connection for all calls, as from an SBC), against Kamailio doing the same
# with sl_send_reply and a TCP listener, in the same run; then the node's RSS with 1,000 TCP
# connections open, and with 1,000 TLS connections open (handshakes done).
#
#   bash scripts/bench-tcp.sh            (installs sip-tester and kamailio if missing)
#
# Prints the CPU time each server takes per call (all its processes, from /proc, over
# SECONDS_PER_RUN s at each of RATES calls/s) and the ratio (target <= 0.5), and the node's RSS fresh and with
# 1,000 connections open (from 20 loopback addresses, 50 each), and what a TLS connection adds
# (1,000 of them, EC P-256 certificate from scripts/tls-certs, TLS 1.3). Loopback only.
# The two servers take turns, ROUNDS runs each (both running throughout), so a shared
# machine's slow spell falls on both rather than on one; a third takes its turn too, the
# floor: Benchmarks/Floor/responder.c over TCP, the node's system calls and no work of its
# own (the kernel's share of a call here).
# Environment: RATES (default "5000 2000": 5,000 calls/s is the rate bench-node.sh measures
# CPU at over UDP), SECONDS_PER_RUN (default 4), ROUNDS (default 5, after one uncounted
# warm-up run of each). CPU time is the scheduler's count in nanoseconds; each round's
# figures are printed too, and how far the rounds' ratios spread.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RATES=${RATES:-5000 2000}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-4}
ROUNDS=${ROUNDS:-5}
WORK=$(mktemp -d /tmp/gatewayd-bench-tcp.XXXXXX)
. scripts/bench-lib.sh

# Runs SIPp over one TCP connection at RATE against $1; prints the calls that succeeded.
run_sipp() {
    local dir=$WORK/sipp-$RANDOM
    mkdir -p "$dir"
    (cd "$dir" && timeout $((SECONDS_PER_RUN + 30)) sipp -sf "$ROOT/Tests/Scenarios/bench_redirect_uac.xml" -t t1 \
        -r "$RATE" -m $((RATE * SECONDS_PER_RUN)) -i 127.0.0.100 -p 5398 "$1" -trace_stat \
        -timeout $((SECONDS_PER_RUN + 20))s -nostdin -max_recv_loops 100000 -max_sched_loops 100000 >/dev/null 2>&1 || true)
    python3 - "$dir" <<'PY'
import csv, glob, sys
stat = glob.glob(sys.argv[1] + "/*_.csv")
ok = 0
if stat:
    rows = list(csv.reader(open(stat[0]), delimiter=";"))
    ok = int(rows[-1][rows[0].index("SuccessfulCall(C)")])
print(ok)
PY
}

# CPU nanoseconds the processes $2... take while SIPp calls $1, and the calls answered.
cpu_run() {
    local target=$1 before after ok
    shift
    before=$(cpu_ns "$@")
    ok=$(run_sipp "$target")
    after=$(cpu_ns "$@")
    echo "$((after - before)) $ok"
}

# Microseconds per call from nanoseconds $1 over calls $2.
per_call() { python3 -c "print('%.2f' % ($1 / max($2, 1) / 1e3))"; }

rss_of() { awk '/^VmRSS/ {print $2}' /proc/"$1"/status; }

sh scripts/tls-certs "$WORK/tls" n1=127.0.0.1 >/dev/null
printf '[node]\nlisten = 127.0.0.1:5380\ntls_port = 5381\nrate_limit = 0\ntransactions = 16384\ntcp_connections = 2000\ntcp_connections_per_source = 100\nstatus_file = %s/status.json\nstatus_interval = 1\n[capacity]\ncalls = 1000000\nsip_rate = 0\n[sequence]\nn1 = 127.0.0.1:5380\n[tls]\ncertificate = %s/tls/n1.pem\nkey = %s/tls/n1.key\n' "$WORK" "$WORK" "$WORK" > "$WORK/n.conf"
"$GATEWAYD" -c "$WORK/n.conf" 2>"$WORK/n.log" & PIDS+=($!)
sleep 0.5
fresh_rss=$(rss_of "${PIDS[0]}")
echo "== gatewayd and kamailio over TCP (sl_send_reply 302, children=2, tcp_children=2), taking turns"
start_kamailio tcp 5390
cc -O2 -o "$WORK/responder" Benchmarks/Floor/responder.c
"$WORK/responder" 127.0.0.1 5392 tcp & PIDS+=($!)
FLOOR=$!
# Measures the three at RATE, taking turns ROUNDS times after an uncounted warm-up run of
# each (a first run pays for what is touched first: tables, buffers, the connection); keeps
# the summary lines for the end.
SUMMARY=()
measure() {
    local target round ns calls node_round kam_round
    for target in 127.0.0.1:5380 127.0.0.1:5390 127.0.0.1:5392; do
        SECONDS_PER_RUN=1 run_sipp "$target" >/dev/null
    done
    local node_ns=0 node_calls=0 kam_ns=0 kam_calls=0 floor_ns=0 floor_calls=0 ratios=()
    echo "  at $RATE calls/s"
    for round in $(seq "$ROUNDS"); do
        read -r ns calls < <(cpu_run 127.0.0.1:5380 "${PIDS[0]}")
        node_ns=$((node_ns + ns)) node_calls=$((node_calls + calls))
        node_round=$(per_call "$ns" "$calls")
        read -r ns calls < <(cpu_run 127.0.0.1:5390 "${KAMAILIO_PIDS[@]}")
        kam_ns=$((kam_ns + ns)) kam_calls=$((kam_calls + calls))
        kam_round=$(per_call "$ns" "$calls")
        read -r ns calls < <(cpu_run 127.0.0.1:5392 "$FLOOR")
        floor_ns=$((floor_ns + ns)) floor_calls=$((floor_calls + calls))
        ratios+=("$(python3 -c "print('%.2f' % ($node_round / max($kam_round, 0.001)))")")
        echo "    round $round: gatewayd $node_round us, kamailio $kam_round us, floor $(per_call "$ns" "$calls") us per call (ratio ${ratios[-1]})"
    done
    local node_cpu kam_cpu floor_cpu
    node_cpu=$(per_call "$node_ns" "$node_calls")
    kam_cpu=$(per_call "$kam_ns" "$kam_calls")
    floor_cpu=$(per_call "$floor_ns" "$floor_calls")
    SUMMARY+=("$(printf 'CPU/call   gatewayd %s us (%s calls), kamailio %s us (%s calls, all its processes), at %s calls/s over one connection' \
        "$node_cpu" "$node_calls" "$kam_cpu" "$kam_calls" "$RATE")")
    SUMMARY+=("$(python3 -c "
import statistics
rounds = sorted(float(r) for r in '${ratios[*]}'.split())
print('CPU ratio  %.2f x kamailio per call over TCP at %s calls/s (target <= 0.5); rounds %.2f to %.2f, median %.2f'
      % ($node_cpu / max($kam_cpu, 0.001), $RATE, rounds[0], rounds[-1], statistics.median(rounds)))")")
    SUMMARY+=("$(python3 -c "print('CPU floor  %s us (%s calls): Benchmarks/Floor/responder.c over TCP, the same system calls and no work of its own, %.2f x kamailio; gatewayd adds %.2f us' % ('$floor_cpu', $floor_calls, $floor_cpu / max($kam_cpu, 0.001), $node_cpu - $floor_cpu))")")
}
for RATE in $RATES; do measure; done
stop_kamailio
kill "$FLOOR"

# Opens 1,000 connections to port $2 (tcp or tls as $1; TLS checked against the CA $3), each
# with a keep-alive as a registered phone would send, and prints the node's RSS and the
# connections its status file counts.
hold_connections() {
    python3 - "${PIDS[0]}" "$WORK/status.json" "$@" <<'PY'
import json, socket, ssl, sys, time
pid, status, kind, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
context = ssl.create_default_context(cafile=sys.argv[5]) if kind == "tls" else None
connections = []
for source in range(20):
    for _ in range(50):
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT
        s.bind(("127.0.9.%d" % (source + 10), 0))
        s.connect(("127.0.0.1", port))
        if context:
            s = context.wrap_socket(s, server_hostname="127.0.0.1")
        connections.append(s)
for s in connections:
    s.send(b"\r\n\r\n")
time.sleep(2.5)  # the status file is written every second
rss = open("/proc/%s/status" % pid).read().split("VmRSS:")[1].split()[0]
print(rss, json.load(open(status))[kind]["open"])
PY
}

echo "== gatewayd with 1,000 TCP connections open"
read -r open_rss open_count < <(hold_connections tcp 5380)

echo "== gatewayd with 1,000 TLS connections open"
before_tls_rss=$(rss_of "${PIDS[0]}")
read -r tls_rss tls_count < <(hold_connections tls 5381 "$WORK/tls/ca.pem")

echo
printf '%s\n' "${SUMMARY[@]}"
printf 'RSS        %s KiB fresh, %s KiB with %s TCP connections open (%s KiB a connection)\n' "$fresh_rss" "$open_rss" \
    "$open_count" "$(python3 -c "print(round(($open_rss - $fresh_rss) / 1000, 2))")"
printf 'RSS        %s KiB before, %s KiB with %s TLS connections open (%s KiB a connection)\n' "$before_tls_rss" "$tls_rss" \
    "$tls_count" "$(python3 -c "print(round(($tls_rss - $before_tls_rss) / 1000, 2))")"
