#!/usr/bin/env bash
# Regenerate the call-timeout fixtures in Tests/Fixtures/: calls that end without a BYE,
# for the meter's clock (MeterTimeoutTests).
#
#   lost_bye.pcap       2 calls whose BYE is lost (media, then nothing) and 1 ended by BYE
#   unanswered.pcap     3 INVITEs nobody answers, 2 answered only with 100 Trying
#   hold_rtcp.pcap      a call put on hold (re-INVITE a=sendonly, answered inactive),
#                       then a call whose RTP stops while RTCP (rtcp-mux) goes on; no BYEs
#   session_timer.pcap  2 calls with Session-Expires: 90 (RFC 4028), one refreshed by
#                       UPDATE 8 s after its ACK, the other never; no BYEs
#
# SIPp UAC/UAS pairs on 127.0.0.1 (scenarios in Tests/Fixtures/scenarios), recorded with
# tcpdump on lo. Needs root (tcpdump, SIPp's pcap play uses raw sockets).
#
# Usage (from anywhere):  bash scripts/make-fixtures-timeouts.sh        (~45 s)
#
# Requirements: sipp (sip-tester), tcpdump, tshark, python3, timeout.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/Tests/Fixtures"
SCN="$OUT/scenarios"
V4=127.0.0.1
SIPP_TIMEOUT=40s
HARD_TIMEOUT=60
WORK_PREFIX=make-fixtures-timeouts

die() { echo "make-fixtures-timeouts: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (tcpdump, SIPp raw sockets)"
for tool in sipp tcpdump tshark python3 timeout; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done
[ -r /usr/share/sip-tester/g711a.pcap ] || die "missing /usr/share/sip-tester/g711a.pcap (package sip-tester)"

# shellcheck source=scripts/fixture-lib.sh
. "$ROOT/scripts/fixture-lib.sh"

# rtcp.pcap for uac_rtcp.xml: 12 RTCP receiver reports (RFC 3550 §6.4.2, no report
# blocks, SSRC 0xDEE0EE8F), 1 s apart. SIPp's play_pcap_audio sends their UDP payloads
# from the caller's media port to the callee's, with this timing.
python3 - "$WORK/rtcp.pcap" <<'PYEOF'
import struct, sys
out = open(sys.argv[1], "wb")
out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
for i in range(12):
    payload = struct.pack("!BBHI", 0x80, 201, 1, 0xDEE0EE8F)
    udp = struct.pack("!HHHH", 16000, 16010, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
    frame = b"\0" * 12 + b"\x08\x00" + ip
    out.write(struct.pack("<IIII", 1_000_000 + i, 0, len(frame), len(frame)) + frame)
PYEOF

ports() { echo "udp and (portrange $1-$2 or portrange $3-$4)"; }

echo "make-fixtures-timeouts: working in $WORK"

# --- lost_bye.pcap: SIP 5110 (UAS) / 5111 (UAC); RTP 16200-16219 -----------------
echo "lost_bye.pcap"
start_capture lost_bye.pcap lo "$(ports 5110 5111 16200 16219)"
sipp_bg uas1.log -sf "$SCN/uas_timeouts.xml" -i $V4 -p 5110 -mp 16210 -m 3
U=$SIPP_PID
sipp_run uac1a.log $V4:5110 -sf "$SCN/uac_nobye.xml" -i $V4 -p 5111 -mp 16200 -s bob -d 1500 -m 2 -l 1 -r 1
sipp_run uac1b.log $V4:5110 -sf "$SCN/uac_rtp.xml" -i $V4 -p 5111 -mp 16200 -s bob -d 1500 -m 1
stop_capture lost_bye.pcap
kill "$U" 2>/dev/null || true

# --- unanswered.pcap: SIP 5112 (UAS) / 5113 (UAC) ----------------------------------
echo "unanswered.pcap"
start_capture unanswered.pcap lo "$(ports 5112 5113 5112 5113)"
sipp_bg uas2.log -sf "$SCN/uas_silent.xml" -i $V4 -p 5112 -m 5
U=$SIPP_PID
# SIPp counts these calls failed (exit 1): that is the point.
(sipp_run uac2a.log $V4:5112 -sf "$SCN/uac_unanswered.xml" -i $V4 -p 5113 -s nobody -m 3 -l 3 -r 10) 2>/dev/null || true
(sipp_run uac2b.log $V4:5112 -sf "$SCN/uac_unanswered.xml" -i $V4 -p 5113 -s trying -m 2 -l 2 -r 10) 2>/dev/null || true
stop_capture unanswered.pcap
kill "$U" 2>/dev/null || true

# --- hold_rtcp.pcap: SIP 5114 (UAS) / 5115 (UAC); RTP 16220-16239 ------------------
echo "hold_rtcp.pcap"
start_capture hold_rtcp.pcap lo "$(ports 5114 5115 16220 16239)"
sipp_bg uas3.log -sf "$SCN/uas_timeouts.xml" -i $V4 -p 5114 -mp 16230 -m 2
U=$SIPP_PID
sipp_run uac3a.log $V4:5114 -sf "$SCN/uac_hold.xml" -i $V4 -p 5115 -mp 16220 -s bob -d 2000 -m 1
sipp_run uac3b.log $V4:5114 -sf "$SCN/uac_rtcp.xml" -i $V4 -p 5115 -mp 16220 -s bob -d 12500 -m 1
stop_capture hold_rtcp.pcap
kill "$U" 2>/dev/null || true

# --- session_timer.pcap: SIP 5116 (UAS) / 5117 (UAC); RTP 16240-16259 --------------
echo "session_timer.pcap"
start_capture session_timer.pcap lo "$(ports 5116 5117 16240 16259)"
sipp_bg uas4.log -sf "$SCN/uas_timeouts.xml" -i $V4 -p 5116 -mp 16250 -m 2
U=$SIPP_PID
sipp_run uac4a.log $V4:5116 -sf "$SCN/uac_timer.xml" -i $V4 -p 5117 -mp 16240 -s bob -d 1500 -m 1
sipp_run uac4b.log $V4:5116 -sf "$SCN/uac_timer_refresh.xml" -i $V4 -p 5117 -mp 16240 -s bob -d 500 -m 1
stop_capture session_timer.pcap
kill "$U" 2>/dev/null || true

echo "make-fixtures-timeouts: done"
