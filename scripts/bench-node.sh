#!/usr/bin/env bash
# Benchmark of one gatewayd node answering requests to connect (INVITE → 302 → ACK), with
# SIPp as the client on the same machine, against Kamailio doing the same with sl_send_reply.
#
#   bash scripts/bench-node.sh            (installs sip-tester and kamailio if missing)
#
# Prints, for each server: the highest rate (calls/s, steps of STEP_SECONDS at rising
# rates) with under 0.1 % failed calls, and the p99 INVITE → 302 time at 80 % of that
# rate; then the ratio; the time each hop adds in a 3-node chain; the node's RSS fresh, idle
# again once the rate search is over (its transactions ended, its pool trimmed) and with
# 10,000 INVITE transactions open; the CPU time each server takes per call (all its
# processes, from /proc, over 5 s at CPU_RATE calls/s) and the ratio; and the floor: the same
# measure of Benchmarks/Floor/responder.c, which makes the node's system calls and does
# nothing else (the kernel's share of a call on this machine). Loopback only.
# Environment: RATES, STEP_SECONDS, CPU_RATE (default 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RATES=${RATES:-"1000 2000 4000 6000 8000 10000 12000 14000 16000 18000 20000 24000 28000"}
STEP_SECONDS=${STEP_SECONDS:-3}
CPU_RATE=${CPU_RATE:-5000}
WORK=$(mktemp -d /tmp/gatewayd-bench.XXXXXX)
. scripts/bench-lib.sh

# A node config: $1 node number of $2, port $3, drain $4.
node_config() {
    local file=$WORK/n$1.conf
    {
        printf '[node]\nlisten = 127.0.0.%s:%s\ndrain = %s\nrate_limit = 0\ntransactions = 16384\n' "$1" "$3" "$4"
        printf 'status_file = %s/n%s.status\nstatus_interval = 1\n' "$WORK" "$1"
        printf '[capacity]\ncalls = 1000000\nsip_rate = 0\n[health]\nprobe_interval_ms = 1000\n[sequence]\n'
        for member in $(seq 1 "$2"); do printf 'n%s = 127.0.0.%s:%s\n' "$member" "$member" "$3"; done
    } > "$file"
    echo "$file"
}

# Runs SIPp at rate $2 against $1 for STEP_SECONDS; prints "successful failed p99ms p50ms",
# where failed includes calls answered only after a retransmission.
run_sipp() {
    local target=$1 rate=$2 seconds=${3:-$STEP_SECONDS} scenario=${4:-bench_redirect_uac.xml}
    local dir=$WORK/sipp-$RANDOM
    mkdir -p "$dir"
    (cd "$dir" && timeout $((seconds + 30)) sipp -sf "$ROOT/Tests/Scenarios/$scenario" -r "$rate" \
        -m $((rate * seconds)) -i 127.0.0.100 -p 5399 "$target" -trace_rtt -rtt_freq 1000 -trace_stat \
        -timeout $((seconds + 20))s -nostdin -max_recv_loops 100000 -max_sched_loops 100000 >/dev/null 2>&1 || true)
    python3 - "$dir" <<'PY'
import csv, glob, sys
d = sys.argv[1]
stat = glob.glob(d + "/*_.csv")
ok = failed = 0
if stat:
    rows = list(csv.reader(open(stat[0]), delimiter=";"))
    head, last = rows[0], rows[-1]
    ok = int(last[head.index("SuccessfulCall(C)")]); failed = int(last[head.index("FailedCall(C)")])
times = []
for f in glob.glob(d + "/*_rtt.csv"):
    for row in list(csv.reader(open(f), delimiter=";"))[1:]:
        if len(row) > 1: times.append(float(row[1]))
times.sort()
# A call answered only after SIPp retransmitted its INVITE (T1 = 500 ms) counts as failed:
# the first request was lost or left unanswered.
late = sum(1 for t in times if t >= 450)
p = lambda q: times[min(len(times) - 1, int(q * len(times)))] if times else float("nan")
print(ok - min(late, ok), failed + late, p(0.99), p(0.5))
PY
}

# CPU time of the server's processes ($2...) per call answered, in microseconds, over 5 s of
# calls to $1 at CPU_RATE, a rate both servers carry without failures.
cpu_per_call() {
    local target=$1 before after ok
    shift
    before=$(cpu_ns "$@")
    read -r ok _ _ _ < <(run_sipp "$target" "$CPU_RATE" 5)
    after=$(cpu_ns "$@")
    python3 -c "print('%.2f %d' % (($after - $before) / max($ok, 1) / 1e3, $ok))"
}

# KiB of resident memory of process $1 ("RSS anon").
rss_of() { awk '/^VmRSS/ {rss = $2} /^RssAnon/ {anon = $2} END {print rss, anon}' /proc/"$1"/status; }

# Waits (60 s at most) until node $1's status file shows its message pool empty and has been
# written twice since (the pool is trimmed once a second): every transaction is over and
# what they held is given back.
wait_idle() {
    local file=$WORK/n$1.status deadline=$((SECONDS + 60)) stamp=""
    while [ $SECONDS -lt $deadline ]; do
        stamp=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["updated_unix"] if d["message_pool"]["used_bytes"] == 0 else "")' "$file" 2>/dev/null || true)
        [ -n "$stamp" ] && break
        sleep 0.5
    done
    while [ -n "$stamp" ] && [ $SECONDS -lt $deadline ]; do
        local now
        now=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["updated_unix"])' "$file" 2>/dev/null || echo 0)
        [ "$now" -ge $((stamp + 2)) ] && return 0
        sleep 0.5
    done
    echo "    (node $1 did not go idle within 60 s)" >&2
}

# Finds the highest rate with < 0.1 % failed calls against $1; prints "rate p99_at_80%".
search() {
    local target=$1 best=0
    for rate in $RATES; do
        read -r ok failed p99 p50 < <(run_sipp "$target" "$rate")
        local total=$((ok + failed))
        echo "    $rate calls/s: $ok ok, $failed failed, p99 ${p99} ms" >&2
        if [ "$total" -ge $((rate * STEP_SECONDS)) ] && [ $((failed * 1000)) -lt "$total" ]; then best=$rate; else break; fi
    done
    local at80=$((best * 8 / 10))
    read -r ok failed p99 p50 < <(run_sipp "$target" "$at80" 5)
    echo "$best $p99 $at80"
}

echo "== gatewayd, one node"
"$GATEWAYD" -c "$(node_config 1 1 5300 no)" 2>"$WORK/n1.log" & PIDS+=($!)
sleep 0.5
read -r fresh_rss fresh_anon < <(rss_of "${PIDS[0]}")
read -r node_rate node_p99 node_at80 < <(search 127.0.0.1:5300)
read -r node_cpu node_cpu_calls < <(cpu_per_call 127.0.0.1:5300 "${PIDS[0]}")
wait_idle 1
read -r idle_rss idle_anon < <(rss_of "${PIDS[0]}")
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true; PIDS=()

echo "== kamailio (sl_send_reply 302, children=2)"
start_kamailio udp 5310
read -r kam_rate kam_p99 kam_at80 < <(search 127.0.0.1:5310)
read -r kam_cpu kam_cpu_calls < <(cpu_per_call 127.0.0.1:5310 "${KAMAILIO_PIDS[@]}")
stop_kamailio

echo "== floor: a C responder with the node's system calls and no work of its own"
cc -O2 -o "$WORK/responder" Benchmarks/Floor/responder.c
"$WORK/responder" 127.0.0.1 5340 & PIDS+=($!)
sleep 0.3
read -r floor_cpu floor_cpu_calls < <(cpu_per_call 127.0.0.1:5340 "${PIDS[0]}")
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true; PIDS=()

echo "== 3-node chain (#1 and #2 draining): time each hop adds"
for n in 1 2 3; do
    "$GATEWAYD" -c "$(node_config "$n" 3 5320 "$([ "$n" -lt 3 ] && echo yes || echo no)")" 2>"$WORK/c$n.log" & PIDS+=($!)
done
sleep 1
tcpdump -i lo -w "$WORK/chain.pcap" --immediate-mode 'udp port 5320' 2>/dev/null & DUMP=$!
sleep 1
read -r _ _ chain_p99 chain_p50 < <(run_sipp 127.0.0.1:5320 500 4)
sleep 1
kill -INT "$DUMP"; wait "$DUMP" 2>/dev/null || true
for pid in "${PIDS[@]}"; do kill "$pid"; done; PIDS=()
# Per call: when each node passed the INVITE on, and when #3's 302 came back out of #1.
hops=$(tshark -n -r "$WORK/chain.pcap" -Y 'sip.Method == "INVITE" || sip.Status-Code == 302' -T fields \
        -e frame.time_epoch -e ip.src -e ip.dst -e sip.Call-ID -e sip.Status-Code 2>/dev/null | python3 -c '
import sys, statistics
calls = {}
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    if len(f) < 5: continue
    t, src, dst, cid, code = float(f[0]), f[1], f[2], f[3], f[4]
    c = calls.setdefault(cid, {})
    key = (src, dst, code)
    c.setdefault(key, t)
hop1, hop2, back = [], [], []
for c in calls.values():
    a = c.get(("127.0.0.100", "127.0.0.1", "")); b = c.get(("127.0.0.1", "127.0.0.2", "")); d = c.get(("127.0.0.2", "127.0.0.3", ""))
    r3 = c.get(("127.0.0.3", "127.0.0.2", "302")); r2 = c.get(("127.0.0.2", "127.0.0.1", "302")); r1 = c.get(("127.0.0.1", "127.0.0.100", "302"))
    if None in (a, b, d, r3, r2, r1): continue
    hop1.append(b - a); hop2.append(d - b); back.append((r2 - r3) + (r1 - r2))
if hop1:
    print("%.1f %.1f %.1f %d" % (statistics.median(hop1) * 1e6, statistics.median(hop2) * 1e6, statistics.median(back) / 2 * 1e6, len(hop1)))
else:
    print("nan nan nan 0")
')
read -r hop1_us hop2_us back_us hop_calls <<< "$hops"

echo "== RSS with 10,000 INVITE transactions open (302 sent, no ACK yet)"
"$GATEWAYD" -c "$(node_config 1 1 5330 no)" 2>"$WORK/r.log" & PIDS+=($!)
sleep 0.5
run_sipp 127.0.0.1:5330 5000 2 bench_noack_uac.xml >/dev/null
read -r rss_open open_anon < <(rss_of "${PIDS[0]}")

echo
printf 'gatewayd   %6s calls/s max (< 0.1%% failed), p99 %s ms at %s calls/s\n' "$node_rate" "$node_p99" "$node_at80"
printf 'kamailio   %6s calls/s max (< 0.1%% failed), p99 %s ms at %s calls/s\n' "$kam_rate" "$kam_p99" "$kam_at80"
python3 -c "print('ratio      %.2f x kamailio (target >= 1.0); p99 target < 2 ms' % ($node_rate / max($kam_rate, 1)))"
printf 'CPU/call   gatewayd %s us (%s calls), kamailio %s us (%s calls, all its processes), at %s calls/s\n' \
    "$node_cpu" "$node_cpu_calls" "$kam_cpu" "$kam_cpu_calls" "$CPU_RATE"
python3 -c "print('CPU ratio  %.2f x kamailio per call (target <= 0.3)' % ($node_cpu / max($kam_cpu, 0.001)))"
python3 -c "print('CPU floor  %s us (%s calls): Benchmarks/Floor/responder.c, the same system calls and no work of its own, %.2f x kamailio; gatewayd adds %.2f us' % ('$floor_cpu', $floor_cpu_calls, $floor_cpu / max($kam_cpu, 0.001), $node_cpu - $floor_cpu))"
printf 'chain hop  forward %s us at #1, %s us at #2; relay back %s us per hop (medians over %s calls, from a capture on lo); p99 of the whole chain %s ms\n' "$hop1_us" "$hop2_us" "$back_us" "$hop_calls" "$chain_p99"
printf 'RSS        %s KiB fresh (%s anon); %s KiB with 10,000 transactions open (%s anon; target <= 16384)\n' \
    "$fresh_rss" "$fresh_anon" "$rss_open" "$open_anon"
python3 -c "print('RSS idle   %s KiB (%s anon) once the rate search is over: %.2f x fresh (target <= 2)' % ($idle_rss, $idle_anon, $idle_rss / $fresh_rss))"
