#!/usr/bin/env bash
# Regenerate the packet-capture fixtures in Tests/Fixtures/ from scratch.
#
# Runs SIPp (Debian package sip-tester) UAS/UAC pairs against each other on
# loopback only (127.0.0.1 and ::1) and records them with tcpdump.  Every
# sipp run is bounded (-m N, -timeout, plus coreutils timeout); leftover
# processes are killed on exit.  Needs root (tcpdump, and SIPp's pcap play
# uses raw sockets).
#
# Usage (from the project root):  bash scripts/make-fixtures.sh
#
# Requirements: sipp (sip-tester), tcpdump, tshark, editcap, xxd, timeout.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/Tests/Fixtures"
SCN="$OUT/scenarios"
G711A=/usr/share/sip-tester/g711a.pcap

V4=127.0.0.1
V6=::1

SIPP_TIMEOUT=30s      # sipp's own global timeout
HARD_TIMEOUT=45       # coreutils timeout around every sipp / tcpdump
CALL_MS=3000          # talk time of the calls in calls_rtp.pcap
SHORT_MS=1500         # talk time of the other calls

die() { echo "make-fixtures: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (tcpdump, SIPp raw sockets)"
for tool in sipp tcpdump tshark editcap xxd timeout; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done
[ -r "$G711A" ] || die "missing $G711A (package sip-tester)"
[ -d "$SCN" ] || die "missing $SCN"

# shellcheck source=scripts/fixture-lib.sh
. "$ROOT/scripts/fixture-lib.sh"


# Raw A-law samples for SIPp's rtp_stream action (payload of g711a.pcap:
# 236 x 240 bytes, about 7 s).  SIPp looks for it in its working directory.
tshark -n -r "$G711A" -T fields -e udp.payload 2>/dev/null \
    | cut -c25- | tr -d '\n' | xxd -r -p > "$WORK/audio.pcma"
[ -s "$WORK/audio.pcma" ] || die "could not extract audio from $G711A"


echo "make-fixtures: working in $WORK"

# --- 1. calls_rtp.pcap: 3 calls over UDP/IPv4 with RTP both ways -----------
# SIP 5070 (UAS) / 5071 (UAC); RTP UAS 16010, UAC 16000 + 4*(call-1).
echo "calls_rtp.pcap"
start_capture calls_rtp.pcap lo "$(ports 5070 5071 16000 16019)"
sipp_bg uas1.log -sf "$SCN/uas_rtp.xml" -i $V4 -p 5070 -mp 16010 -m 3
U=$SIPP_PID
sipp_run uac1.log $V4:5070 -sf "$SCN/uac_rtp.xml" -i $V4 -p 5071 -mp 16000 \
    -s bob -d $CALL_MS -m 3 -l 1 -r 1
sipp_wait "$U" uas1.log
stop_capture calls_rtp.pcap

# --- 2. register_auth.pcap: 3 x (401, 200) and 1 x (401, 403) --------------
echo "register_auth.pcap"
start_capture register_auth.pcap lo "$(ports 5092 5093 5092 5093)"
sipp_bg uas2.log -sf "$SCN/uas_register.xml" -i $V4 -p 5092 -m 4
U=$SIPP_PID
sipp_run uac2a.log $V4:5092 -sf "$SCN/uac_register.xml" -i $V4 -p 5093 \
    -s alice -au alice -ap secret -m 3 -l 1 -r 2
sipp_run uac2b.log $V4:5092 -sf "$SCN/uac_register.xml" -i $V4 -p 5093 \
    -s mallory -au mallory -ap guess -m 1
sipp_wait "$U" uas2.log
stop_capture register_auth.pcap

# --- 3. cancel_reject.pcap: 2 x CANCEL while ringing, 486, 503 -------------
echo "cancel_reject.pcap"
start_capture cancel_reject.pcap lo "$(ports 5074 5075 16120 16139)"
sipp_bg uas3.log -sf "$SCN/uas_cancel_reject.xml" -i $V4 -p 5074 -mp 16130 -m 4
U=$SIPP_PID
sipp_run uac3a.log $V4:5074 -sf "$SCN/uac_cancel.xml" -i $V4 -p 5075 -mp 16120 \
    -s bob -m 2 -l 1 -r 1
sipp_run uac3b.log $V4:5074 -sf "$SCN/uac_reject.xml" -i $V4 -p 5075 -mp 16120 \
    -s busy -m 1
sipp_run uac3c.log $V4:5074 -sf "$SCN/uac_reject.xml" -i $V4 -p 5075 -mp 16120 \
    -s unavailable -m 1
sipp_wait "$U" uas3.log
stop_capture cancel_reject.pcap

# --- 4. calls_ipv6.pcap: 2 calls over UDP/IPv6 ([::1]) with RTP ------------
echo "calls_ipv6.pcap"
start_capture calls_ipv6.pcap lo "ip6 and $(ports 5076 5077 16020 16039)"
sipp_bg uas4.log -sf "$SCN/uas_rtp.xml" -i $V6 -p 5076 -mp 16030 -m 2
U=$SIPP_PID
sipp_run uac4.log "[$V6]:5076" -sf "$SCN/uac_rtp.xml" -i $V6 -p 5077 -mp 16020 \
    -s bob -d $SHORT_MS -m 2 -l 1 -r 1
sipp_wait "$U" uas4.log
stop_capture calls_ipv6.pcap

# --- 5. calls_any_sll.pcap / calls_any_sll2.pcap: -i any (cooked) ----------
echo "calls_any_sll.pcap"
start_capture calls_any_sll.pcap any "$(ports 5078 5079 16040 16059)" -y LINUX_SLL
sipp_bg uas5.log -sf "$SCN/uas_rtp.xml" -i $V4 -p 5078 -mp 16050 -m 1
U=$SIPP_PID
sipp_run uac5.log $V4:5078 -sf "$SCN/uac_rtp.xml" -i $V4 -p 5079 -mp 16040 \
    -s bob -d $SHORT_MS -m 1
sipp_wait "$U" uas5.log
stop_capture calls_any_sll.pcap

if tcpdump -i any -L 2>&1 | grep -q LINUX_SLL2; then
    echo "calls_any_sll2.pcap"
    start_capture calls_any_sll2.pcap any "$(ports 5080 5081 16060 16079)" -y LINUX_SLL2
    sipp_bg uas6.log -sf "$SCN/uas_rtp.xml" -i $V4 -p 5080 -mp 16070 -m 1
    U=$SIPP_PID
    sipp_run uac6.log $V4:5080 -sf "$SCN/uac_rtp.xml" -i $V4 -p 5081 -mp 16060 \
        -s bob -d $SHORT_MS -m 1
    sipp_wait "$U" uas6.log
    stop_capture calls_any_sll2.pcap
else
    echo "calls_any_sll2.pcap: skipped, libpcap has no LINUX_SLL2 for 'any'"
fi

# --- 6. mixed.pcapng: one call plus one authenticated REGISTER -------------
echo "mixed.pcapng"
start_capture mixed.pcap lo "$(ports 5096 5099 16080 16099)"
sipp_bg uas7a.log -sf "$SCN/uas_register.xml" -i $V4 -p 5098 -m 1
R=$SIPP_PID
sipp_bg uas7b.log -sf "$SCN/uas_rtp.xml" -i $V4 -p 5096 -mp 16090 -m 1
U=$SIPP_PID
sipp_run uac7a.log $V4:5098 -sf "$SCN/uac_register.xml" -i $V4 -p 5099 \
    -s alice -au alice -ap secret -m 1
sipp_run uac7b.log $V4:5096 -sf "$SCN/uac_rtp.xml" -i $V4 -p 5097 -mp 16080 \
    -s bob -d $SHORT_MS -m 1
sipp_wait "$R" uas7a.log
sipp_wait "$U" uas7b.log
# tcpdump only writes classic pcap; convert.
stop_tcpdump mixed.pcap
editcap -F pcapng "$WORK/mixed.pcap" "$WORK/mixed.pcapng"
publish mixed.pcapng

# --- 7. sip_tcp.pcap: one call with SIP over TCP (RTP over UDP) ------------
echo "sip_tcp.pcap"
start_capture sip_tcp.pcap lo "$(ports 5086 5087 16100 16119)"
sipp_bg uas8.log -sf "$SCN/uas_rtp.xml" -t t1 -i $V4 -p 5086 -mp 16110 -m 1
U=$SIPP_PID
sipp_run uac8.log $V4:5086 -sf "$SCN/uac_rtp.xml" -t t1 -i $V4 -p 5087 -mp 16100 \
    -s bob -d $SHORT_MS -m 1
sipp_wait "$U" uas8.log
stop_capture sip_tcp.pcap

echo "make-fixtures: done"
ls -l "$OUT"/*.pcap "$OUT"/*.pcapng
