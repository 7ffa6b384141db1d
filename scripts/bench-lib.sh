# What the benchmarks against Kamailio share (bench-node.sh, bench-tcp.sh), sourced with
# ROOT and WORK set: the processes they start are stopped on exit, sipp and kamailio are
# installed when missing, gatewayd is built (release) into $GATEWAYD.
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$WORK/kamailio.pid" ] && kill "$(cat "$WORK/kamailio.pid")" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need sipp sip-tester
need kamailio kamailio
swift build -c release --product gatewayd 2>&1 | tail -n 1
GATEWAYD=$ROOT/.build/release/gatewayd

# CPU time (user + system) of the processes $@ and all their threads so far, in
# nanoseconds: the scheduler's own count (/proc/PID/task/TID/schedstat, first field), not
# the 10 ms ticks of /proc/PID/stat, so that a few seconds of calls resolve a fraction of a
# microsecond per call.
cpu_ns() {
    local total=0 pid task run _
    for pid in "$@"; do
        for task in /proc/"$pid"/task/*/schedstat; do
            read -r run _ < "$task" || continue
            total=$((total + run))
        done
    done
    echo "$total"
}

# Starts Kamailio answering every request but ACK with a 302 (sl_send_reply, two children
# a transport) on 127.0.0.1:$2 over $1 (udp or tcp); its processes' pids in KAMAILIO_PIDS.
start_kamailio() {
    local transport=$1 port=$2
    cat > "$WORK/kamailio.cfg" <<KAM
#!KAMAILIO
debug=0
children=2
tcp_children=2
listen=$transport:127.0.0.1:$port
mpath="$(dirname "$(find /usr/lib -name sl.so -path '*kamailio*' | head -n 1)")/"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
request_route {
    if (is_method("ACK")) { exit; }
    append_to_reply("Contact: <sip:\$rU@127.0.0.1:$port;transport=$transport>;expires=60\r\n");
    sl_send_reply("302", "Moved Temporarily");
    exit;
}
KAM
    kamailio -f "$WORK/kamailio.cfg" -E -w "$WORK" -P "$WORK/kamailio.pid" 2>"$WORK/kamailio.log"
    sleep 1
    mapfile -t KAMAILIO_PIDS < <(pgrep -f "kamailio -f $WORK/kamailio.cfg")
}

stop_kamailio() { kill "$(cat "$WORK/kamailio.pid")"; rm -f "$WORK/kamailio.pid"; }
