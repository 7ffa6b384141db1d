#!/usr/bin/env bash
# Regenerate the transport fixtures in Tests/Fixtures/ from scratch:
#
#   sip_tcp_segments.pcap       SIP over TCP on 127.0.0.1 with coalesced
#                               messages, split messages, a body in its own
#                               segment and CRLF keep-alives
#   sip_udp_fragments.pcap      SIP over UDP/IPv4 with INVITEs and 200s that
#                               are fragmented at the IP layer (MTU 1280)
#   sip_udp_fragments_ipv6.pcap the same over UDP/IPv6 (fragment headers)
#
# The traffic is real: a small python3 UAC/UAS (written to a temporary
# directory by this script) talks over loopback for the TCP file, and across
# a veth pair between two network namespaces created here (MTU 1280,
# 10.99.0.1/24 <-> 10.99.0.2/24, fd00:99::1/64 <-> fd00:99::2/64) for the UDP
# files.  The namespaces have no other interface, so nothing leaves them.
# Every process is bounded by coreutils timeout; the trap kills what is left
# and deletes the namespaces.  Needs root (tcpdump, ip netns).
#
# Usage (from anywhere):  bash scripts/make-fixtures-transport.sh
#
# Requirements: python3, tcpdump, tshark, ip and ss (iproute2), timeout.  ~15 s.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/Tests/Fixtures"

TCP_PORT=5060                 # SIP over TCP server port on 127.0.0.1
NSA="gwd-tr-uac-$$"           # namespace of the caller (10.99.0.1, fd00:99::1)
NSB="gwd-tr-uas-$$"           # namespace of the callee (10.99.0.2, fd00:99::2)
IFA=tr0                       # veth end in NSA
IFB=tr1                       # veth end in NSB
MTU=1280
HARD_TIMEOUT=40               # coreutils timeout around every helper / tcpdump

die() { echo "make-fixtures-transport: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (tcpdump, ip netns)"
for tool in python3 tcpdump tshark ip ss timeout; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done
[ -d "$OUT" ] || die "missing $OUT"

WORK=$(mktemp -d /tmp/make-fixtures-transport.XXXXXX)
PIDS=()
TCPDUMP_PID=""
NETNS_MADE=0

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
    [ "${#PIDS[@]}" -eq 0 ] || sleep 0.3
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "$NETNS_MADE" -eq 1 ]; then
        ip netns del "$NSA" 2>/dev/null || true
        ip netns del "$NSB" 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the python3 UAC / UAS -------------------------------------------------
cat >"$WORK/sipxport.py" <<'PYEOF'
#!/usr/bin/env python3
"""Tiny scripted SIP endpoints for the transport fixtures.

  sipxport.py tcp PORT            server and client over 127.0.0.1:PORT
  sipxport.py uas 4|6 LOCAL PEER  UDP callee on LOCAL:5060
  sipxport.py uac 4|6 LOCAL PEER  UDP caller on LOCAL:5060 -> PEER:5060

Every identifier (tags, branches, Call-IDs, SSRCs, sequence numbers) is fixed,
so each run produces the same messages; only timestamps and (TCP) the
client's ephemeral port change.
"""
import base64, socket, struct, sys, threading, time

SIP_PORT = 5060


def build(first, headers, body=b"", ctype=None):
    """A SIP message; Content-Type (if any) and Content-Length are appended."""
    if isinstance(body, str):
        body = body.encode()
    lines = [first] + ["%s: %s" % hv for hv in headers]
    if ctype:
        lines.append("Content-Type: " + ctype)
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse(data):
    """(first line, {lower-case header: first value}, body) of one message."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        hdrs.setdefault(name.strip().lower(), value.strip())
    return lines[0], hdrs, body


def response(req_hdrs, code, reason, to_tag=None, extra=(), body=b"", ctype=None):
    """A response copying Via, From, To (+tag), Call-ID and CSeq."""
    to = req_hdrs["to"]
    if to_tag and ";tag=" not in to:
        to += ";tag=" + to_tag
    headers = [("Via", v) for v in req_hdrs["_vias"]]
    headers += [("From", req_hdrs["from"]), ("To", to),
                ("Call-ID", req_hdrs["call-id"]), ("CSeq", req_hdrs["cseq"])]
    headers += list(extra)
    return build("SIP/2.0 %d %s" % (code, reason), headers, body, ctype)


def vias(data):
    head = data.partition(b"\r\n\r\n")[0].decode()
    return [l.partition(":")[2].strip() for l in head.split("\r\n")[1:]
            if l.lower().startswith("via:")]


def sdp(sess_id, addr, port, fam, user, codecs=(8, 0, 101)):
    ip = "IP6" if fam == 6 else "IP4"
    names = {0: "PCMU/8000", 8: "PCMA/8000", 101: "telephone-event/8000"}
    lines = ["v=0",
             "o=%s %d %d IN %s %s" % (user, sess_id, sess_id, ip, addr),
             "s=gatewayd fixture",
             "c=IN %s %s" % (ip, addr),
             "t=0 0",
             "m=audio %d RTP/AVP %s" % (port, " ".join(str(c) for c in codecs))]
    lines += ["a=rtpmap:%d %s" % (c, names[c]) for c in codecs]
    if 101 in codecs:
        lines.append("a=fmtp:101 0-15")
    lines += ["a=ptime:20", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


def srtp_key(n):
    """A fixed 30-byte SRTP master key and salt, base64 (40 characters)."""
    return base64.b64encode(bytes((n * 31 + i) & 0xFF for i in range(30))).decode()


def big_sdp(sess_id, addr, port, fam, user, answer=False):
    """A WebRTC-gateway style offer/answer: many codecs, SRTP keys, ICE
    candidates, an RTCP port and a video m-line (rejected in the answer).
    About 3.3 KB, so it does not fit into a 1280-byte MTU."""
    ip = "IP6" if fam == 6 else "IP4"
    audio = [(8, "PCMA/8000", None), (0, "PCMU/8000", None),
             (9, "G722/8000", None), (111, "opus/48000/2",
              "minptime=10;useinbandfec=1;stereo=0;sprop-stereo=0"),
             (96, "AMR-WB/16000", "octet-align=1;mode-change-capability=2"),
             (97, "AMR/8000", "octet-align=1;mode-change-capability=2"),
             (98, "iLBC/8000", "mode=20"), (18, "G729/8000", "annexb=no"),
             (3, "GSM/8000", None), (100, "telephone-event/48000", "0-16"),
             (101, "telephone-event/8000", "0-16")]
    if answer:
        audio = audio[:1] + audio[-1:]
    lines = ["v=0",
             "o=%s %d %d IN %s %s" % (user, sess_id, sess_id, ip, addr),
             "s=gatewayd fixture (large SDP)",
             "i=call with a body larger than the link MTU",
             "u=http://example.invalid/gatewayd/fixtures",
             "e=noc@example.invalid",
             "c=IN %s %s" % (ip, addr),
             "b=AS:1024",
             "t=0 0",
             "a=group:BUNDLE 0" + ("" if answer else " 1"),
             "a=msid-semantic: WMS gatewaydfixture",
             "m=audio %d RTP/AVP %s" % (port, " ".join(str(a[0]) for a in audio)),
             "c=IN %s %s" % (ip, addr),
             "b=TIAS:64000",
             "a=mid:0",
             "a=rtcp:%d IN %s %s" % (port + 1, ip, addr)]
    for pt, name, fmtp in audio:
        lines.append("a=rtpmap:%d %s" % (pt, name))
        if fmtp:
            lines.append("a=fmtp:%d %s" % (pt, fmtp))
    lines += ["a=ptime:20", "a=maxptime:60", "a=sendrecv",
              "a=ice-ufrag:%s" % ("ansR" if answer else "offR4nd"),
              "a=ice-pwd:%s" % ("c0ffee" * 4 if answer else "deadbeef" * 3),
              "a=ice-options:trickle"]
    exts = ["urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "urn:ietf:params:rtp-hdrext:sdes:mid"]
    lines += ["a=extmap:%d %s" % (i + 1, e) for i, e in enumerate(exts)]
    if not answer:
        lines += ["a=rtcp-fb:111 transport-cc", "a=rtcp-fb:96 nack"]
    for comp, p in ((1, port), (2, port + 1)):
        lines.append("a=candidate:%d %d udp %d %s %d typ host generation 0"
                     % (1 if comp == 1 else 2, comp, 2130706431 - comp + 1, addr, p))
    if not answer:
        for i in range(1, 4):
            lines.append("a=crypto:%d AES_CM_128_HMAC_SHA1_%d inline:%s|2^31|1:1"
                         % (i, 80 if i != 2 else 32, srtp_key(i)))
        lines.append("a=ssrc:3735928559 cname:gatewayd-fixture-caller")
        lines.append("a=ssrc:3735928559 msid:gatewaydfixture audio0")
    else:
        lines.append("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s|2^31|1:1"
                     % srtp_key(7))
        lines.append("a=ssrc:3405643776 cname:gatewayd-fixture-callee")
    lines.append("a=rtcp-mux")
    vport = 0 if answer else port + 10
    lines += ["m=video %d RTP/AVP 102 103 104 105" % vport, "a=mid:1"]
    if answer:
        lines.append("a=inactive")
    else:
        lines += ["a=rtpmap:102 H264/90000",
                  "a=fmtp:102 profile-level-id=42e01f;packetization-mode=1;"
                  "level-asymmetry-allowed=1",
                  "a=rtcp-fb:102 nack", "a=rtcp-fb:102 nack pli",
                  "a=rtcp-fb:102 ccm fir", "a=rtcp-fb:102 goog-remb",
                  "a=rtpmap:103 VP8/90000",
                  "a=rtcp-fb:103 nack", "a=rtcp-fb:103 nack pli",
                  "a=rtpmap:104 rtx/90000", "a=fmtp:104 apt=102",
                  "a=rtcp-fb:102 transport-cc", "a=rtcp-fb:103 ccm fir",
                  "a=rtcp-fb:103 goog-remb", "a=rtcp-fb:103 transport-cc",
                  "a=rtpmap:105 rtx/90000", "a=fmtp:105 apt=103",
                  "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
                  "a=extmap:3 http://www.ietf.org/id/"
                  "draft-holmer-rmcat-transport-wide-cc-extensions-01",
                  "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
                  "a=extmap:5 urn:3gpp:video-orientation",
                  "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
                  "a=ssrc-group:FID 4207849484 1591011729",
                  "a=sendrecv", "a=rtcp:%d IN %s %s" % (vport + 1, ip, addr),
                  "a=candidate:3 1 udp 2130706431 %s %d typ host generation 0"
                  % (addr, vport),
                  "a=ssrc:4207849484 cname:gatewayd-fixture-caller",
                  "a=ssrc:4207849484 msid:gatewaydfixture video0",
                  "a=imageattr:102 send [x=[320:16:1280],y=[240:16:720]] "
                  "recv [x=[320:16:1280],y=[240:16:720]]"]
    return "\r\n".join(lines) + "\r\n"


def pidf_lo(addr):
    """A PIDF-LO (RFC 4119 / 5139) civic + geodetic location, ~1.6 KB."""
    return """<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf"
    xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
    xmlns:gbp="urn:ietf:params:xml:ns:pidf:geopriv10:basicPolicy"
    xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
    xmlns:gml="http://www.opengis.net/gml"
    xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
    entity="sip:alice@%s">
  <dm:device id="gatewayd-fixture-phone">
    <gp:geopriv>
      <gp:location-info>
        <ca:civicAddress xml:lang="en">
          <ca:country>XX</ca:country>
          <ca:A1>Example State</ca:A1>
          <ca:A2>Example County</ca:A2>
          <ca:A3>Example City</ca:A3>
          <ca:A4>Example District</ca:A4>
          <ca:A6>Example Neighbourhood</ca:A6>
          <ca:PRD>N</ca:PRD>
          <ca:RD>Fixture</ca:RD>
          <ca:STS>Street</ca:STS>
          <ca:POD>E</ca:POD>
          <ca:HNO>42</ca:HNO>
          <ca:HNS>A</ca:HNS>
          <ca:LMK>Opposite the packet capture museum</ca:LMK>
          <ca:LOC>Rack row 7, near the loopback interface</ca:LOC>
          <ca:FLR>3</ca:FLR>
          <ca:NAM>Load Meter Test Lab</ca:NAM>
          <ca:PC>00000</ca:PC>
          <ca:BLD>Building 2</ca:BLD>
          <ca:UNIT>Suite 300</ca:UNIT>
          <ca:ROOM>301</ca:ROOM>
          <ca:SEAT>desk 12</ca:SEAT>
          <ca:PLC>office</ca:PLC>
          <ca:PCN>Example Postal Community</ca:PCN>
        </ca:civicAddress>
        <gs:Circle xmlns:gs="http://www.opengis.net/pidflo/1.0"
            srsName="urn:ogc:def:crs:EPSG::4326">
          <gml:pos>0.000000 0.000000</gml:pos>
          <gs:radius uom="urn:ogc:def:uom:EPSG::9001">25</gs:radius>
        </gs:Circle>
      </gp:location-info>
      <gp:usage-rules>
        <gbp:retransmission-allowed>false</gbp:retransmission-allowed>
        <gbp:retention-expiry>2030-01-01T00:00:00Z</gbp:retention-expiry>
      </gp:usage-rules>
      <gp:method>Manual</gp:method>
    </gp:geopriv>
    <dm:deviceID>mac:020000990001</dm:deviceID>
    <dm:timestamp>2024-01-01T00:00:00Z</dm:timestamp>
  </dm:device>
</presence>
""" % addr


def multipart(parts, boundary):
    out = ""
    for ctype, extra, body in parts:
        out += "--%s\r\nContent-Type: %s\r\n" % (boundary, ctype)
        for h in extra:
            out += "%s: %s\r\n" % h
        out += "\r\n" + body.replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n"
    return out + "--%s--\r\n" % boundary


# ---------------------------------------------------------------- TCP ----

class StreamReader:
    """Frames SIP messages (by Content-Length) and CRLF keep-alives."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def next(self):
        while True:
            if self.buf.startswith(b"\r\n\r\n"):
                self.buf = self.buf[4:]
                return "ping", None
            if self.buf.startswith(b"\r\n") and len(self.buf) >= 3 and \
                    not self.buf.startswith(b"\r\n\r"):
                self.buf = self.buf[2:]
                return "pong", None
            end = self.buf.find(b"\r\n\r\n")
            if end > 0 and not self.buf.startswith(b"\r\n"):
                _, hdrs, _ = parse(self.buf[:end + 4])
                total = end + 4 + int(hdrs.get("content-length", "0"))
                if len(self.buf) >= total:
                    msg, self.buf = self.buf[:total], self.buf[total:]
                    return "msg", msg
            if self.buf == b"\r\n":
                # a lone pong at the end of what we have
                try:
                    self.sock.settimeout(0.3)
                    self._fill()
                except socket.timeout:
                    self.buf = b""
                    return "pong", None
                finally:
                    self.sock.settimeout(10)
                continue
            self._fill()


def seg(sock, *pieces, gap=0.06):
    """Send each piece as its own TCP segment (TCP_NODELAY plus a pause)."""
    for p in pieces:
        sock.sendall(p)
        time.sleep(gap)


def tcp_server(lsock, done):
    conn, _ = lsock.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.settimeout(10)
    rd = StreamReader(conn)
    here = "127.0.0.1:%d" % lsock.getsockname()[1]
    contact = ("Contact", "<sip:bob@%s;transport=tcp>" % here)
    try:
        while True:
            kind, msg = rd.next()
            if kind == "ping":
                seg(conn, b"\r\n")               # RFC 5626 pong
                continue
            first, hdrs, _ = parse(msg)
            hdrs["_vias"] = vias(msg)
            method = first.split(" ", 1)[0]
            cid = hdrs["call-id"]
            if method == "OPTIONS":
                seg(conn, response(hdrs, 200, "OK", "uas-opt", [
                    ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"),
                    ("Accept", "application/sdp"), ("Server", "fixture-uas")]))
            elif method == "REGISTER":
                expires = "0" if "expires=0" in hdrs.get("contact", "") \
                    or hdrs.get("expires") == "0" else "3600"
                seg(conn, response(hdrs, 200, "OK", "uas-reg", [
                    ("Contact", hdrs["contact"].split(";expires")[0]
                     + ";expires=" + expires), ("Server", "fixture-uas")]))
            elif method == "INVITE":
                tag = "uas-" + cid.split("@")[0][-1]
                r100 = response(hdrs, 100, "Trying")
                r180 = response(hdrs, 180, "Ringing", tag, [contact])
                answer = sdp(2001, "127.0.0.1", 16130, 4, "bob", (8, 101))
                r200 = response(hdrs, 200, "OK", tag, [contact,
                                ("Server", "fixture-uas")], answer,
                                "application/sdp")
                if cid.startswith("tcp-call-1"):
                    # (a) 100 and 180 in one segment, then (b) the 200 with
                    # SDP split over three segments: inside the Contact
                    # header, and inside the SDP body.
                    seg(conn, r100 + r180, gap=0.2)
                    a = r200.index(b"Contact:") + 12
                    b = r200.index(b"a=rtpmap:8") + 5
                    seg(conn, r200[:a], r200[a:b], r200[b:])
                else:
                    # (a) three messages, the last with a body, in one segment
                    seg(conn, r100 + r180 + r200)
            elif method == "BYE":
                seg(conn, response(hdrs, 200, "OK"))
            elif method == "ACK":
                pass
    except EOFError:
        pass
    finally:
        conn.close()
        done.set()


def tcp_main(port):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(1)
    done = threading.Event()
    threading.Thread(target=tcp_server, args=(lsock, done), daemon=True).start()

    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rd = StreamReader(c)
    me = "127.0.0.1:%d" % c.getsockname()[1]
    srv = "127.0.0.1:%d" % port
    time.sleep(0.1)

    def req(method, ruri, cid, cseq, branch, ftag="uac-1", ttag=None,
            extra=(), body=b"", ctype=None):
        to = "<sip:bob@%s>" % srv if method != "REGISTER" else \
            "<sip:alice@%s>" % srv
        if ttag:
            to += ";tag=" + ttag
        frm = ("<sip:alice@%s>;tag=%s" % (srv, ftag))
        headers = [("Via", "SIP/2.0/TCP %s;branch=z9hG4bK%s;rport" % (me, branch)),
                   ("Max-Forwards", "70"), ("From", frm), ("To", to),
                   ("Call-ID", cid), ("CSeq", "%d %s" % (cseq, method))]
        headers += list(extra)
        headers.append(("User-Agent", "fixture-uac"))
        return build("%s %s SIP/2.0" % (method, ruri), headers, body, ctype)

    def expect(*codes):
        for code in codes:
            kind, msg = rd.next()
            while kind == "pong":
                kind, msg = rd.next()
            got = msg.split(b" ", 2)[1].decode()
            if got != str(code):
                raise SystemExit("tcp: expected %s, got %s" % (code, got))

    def expect_pong():
        kind, _ = rd.next()
        if kind != "pong":
            raise SystemExit("tcp: expected a CRLF pong")

    contact = ("Contact", "<sip:alice@%s;transport=tcp>" % me)
    bob = "sip:bob@%s;transport=tcp" % srv

    # OPTIONS, one segment
    seg(c, req("OPTIONS", bob, "tcp-options-1@fixture", 1, "-opt-1",
               "uac-o1", extra=[("Accept", "application/sdp")]))
    expect(200)

    # (b) REGISTER split over three segments: inside the Via header, and
    # inside the Content-Length header.
    reg = req("REGISTER", "sip:%s;transport=tcp" % srv, "tcp-register-1@fixture",
              1, "-reg-1", "uac-r1", extra=[contact, ("Expires", "3600")])
    a = reg.index(b"branch=") + 3
    b = reg.index(b"Content-Length") + 9
    seg(c, reg[:a], reg[a:b], reg[b:])
    expect(200)

    # (d) keep-alive
    seg(c, b"\r\n\r\n")
    expect_pong()

    # call 1: (c) INVITE headers and SDP body in separate segments
    offer = sdp(1001, "127.0.0.1", 16120, 4, "alice")
    inv = req("INVITE", bob, "tcp-call-1@fixture", 1, "-inv-1", "uac-c1",
              extra=[contact, ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"),
                     ("Supported", "timer"), ("Session-Expires", "1800")],
              body=offer, ctype="application/sdp")
    cut = inv.index(b"\r\n\r\n") + 4
    seg(c, inv[:cut], inv[cut:], gap=0.08)
    expect(100, 180, 200)
    seg(c, req("ACK", "sip:bob@%s;transport=tcp" % srv, "tcp-call-1@fixture",
               1, "-ack-1", "uac-c1", "uas-1"))
    time.sleep(0.3)
    seg(c, b"\r\n\r\n")                          # (d) keep-alive mid-call
    expect_pong()
    time.sleep(0.3)
    seg(c, req("BYE", bob, "tcp-call-1@fixture", 2, "-bye-1",
               "uac-c1", "uas-1"))
    expect(200)

    # call 2: INVITE in one segment, 100+180+200 arrive in one segment, then
    # (a) ACK and BYE in one segment
    offer = sdp(1002, "127.0.0.1", 16122, 4, "alice")
    seg(c, req("INVITE", bob, "tcp-call-2@fixture", 1, "-inv-2", "uac-c2",
               extra=[contact, ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")],
               body=offer, ctype="application/sdp"))
    expect(100, 180, 200)
    time.sleep(0.3)
    seg(c, req("ACK", "sip:bob@%s;transport=tcp" % srv, "tcp-call-2@fixture",
               1, "-ack-2", "uac-c2", "uas-2")
        + req("BYE", bob, "tcp-call-2@fixture", 2, "-bye-2",
              "uac-c2", "uas-2"))
    expect(200)

    # (d) keep-alive, then (a) REGISTER (Expires: 0) and OPTIONS in one segment
    seg(c, b"\r\n\r\n")
    expect_pong()
    seg(c, req("REGISTER", "sip:%s;transport=tcp" % srv, "tcp-register-1@fixture",
               2, "-reg-2", "uac-r1", extra=[contact, ("Expires", "0")])
        + req("OPTIONS", bob, "tcp-options-2@fixture", 1, "-opt-2", "uac-o2",
              extra=[("Accept", "application/sdp")]))
    expect(200, 200)
    time.sleep(0.1)
    c.shutdown(socket.SHUT_WR)
    done.wait(5)
    c.close()
    lsock.close()


# ---------------------------------------------------------------- UDP ----

RTP_PACKETS = 25            # per direction and call: 0.5 s of 20 ms PCMA


def udp_socket(fam, addr, port):
    s = socket.socket(socket.AF_INET6 if fam == 6 else socket.AF_INET,
                      socket.SOCK_DGRAM)
    if fam == 4:
        # IP_MTU_DISCOVER = IP_PMTUDISC_DONT: no DF bit, the kernel fragments
        s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_MTU_DISCOVER", 10),
                     getattr(socket, "IP_PMTUDISC_DONT", 0))
    else:
        # IPV6_MTU_DISCOVER = IPV6_PMTUDISC_DONT: fragment at the source
        s.setsockopt(socket.IPPROTO_IPV6, getattr(socket, "IPV6_MTU_DISCOVER", 23),
                     getattr(socket, "IPV6_PMTUDISC_DONT", 0))
    s.bind((addr, port))
    return s


def hostport(fam, addr, port=None):
    h = "[%s]" % addr if fam == 6 else addr
    return h if port is None else "%s:%d" % (h, port)


def send_rtp(sock, dest, ssrc, seq, ts, count=RTP_PACKETS):
    payload = b"\xd5" * 160                       # A-law silence
    t0 = time.monotonic()
    for i in range(count):
        hdr = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | 8,
                          (seq + i) & 0xFFFF, (ts + 160 * i) & 0xFFFFFFFF, ssrc)
        sock.sendto(hdr + payload, dest)
        delay = t0 + 0.02 * (i + 1) - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def sdp_media(body):
    """(address, audio port) from an SDP body or a multipart body with SDP."""
    addr = port = None
    for line in body.decode().split("\r\n"):
        if line.startswith("c=IN ") and addr is None:
            addr = line.split()[2]
        elif line.startswith("m=audio ") and port is None:
            port = int(line.split()[1])
    return addr, port


def uas_main(fam, local, peer):
    s = udp_socket(fam, local, SIP_PORT)
    s.settimeout(15)
    rtp = {}
    calls_done = 0
    me = hostport(fam, local, SIP_PORT)
    contact = ("Contact", "<sip:bob@%s>" % me)
    ncall = 0
    while calls_done < 2:
        data, src = s.recvfrom(65535)
        first, hdrs, body = parse(data)
        hdrs["_vias"] = vias(data)
        method = first.split(" ", 1)[0]
        cid = hdrs["call-id"]
        if method == "OPTIONS":
            s.sendto(response(hdrs, 200, "OK", "uas-opt", [
                ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"),
                ("Accept", "application/sdp, multipart/mixed")]), src)
        elif method == "REGISTER":
            s.sendto(response(hdrs, 200, "OK", "uas-reg", [
                ("Contact", hdrs["contact"] + ";expires=3600")]), src)
        elif method == "INVITE":
            ncall += 1
            tag = "uas-%d" % ncall
            port = 30000 + 2 * (ncall - 1)
            rsock = udp_socket(fam, local, port)
            addr, rport = sdp_media(body)
            rtp[cid] = (rsock, (addr, rport), ncall)
            s.sendto(response(hdrs, 100, "Trying"), src)
            time.sleep(0.05)
            s.sendto(response(hdrs, 180, "Ringing", tag, [contact]), src)
            time.sleep(0.2)
            if ncall == 1:
                answer = big_sdp(2000 + ncall, local, port, fam, "bob", answer=True)
            else:
                answer = sdp(2000 + ncall, local, port, fam, "bob", (8, 101))
            s.sendto(response(hdrs, 200, "OK", tag, [contact], answer,
                              "application/sdp"), src)
        elif method == "ACK":
            rsock, dest, n = rtp[cid]
            send_rtp(rsock, dest, 0xCA110000 + n, 20000 * n, 80000 * n)
        elif method == "BYE":
            s.sendto(response(hdrs, 200, "OK"), src)
            rtp.pop(cid)[0].close()
            calls_done += 1
    s.close()


def uac_main(fam, local, peer):
    s = udp_socket(fam, local, SIP_PORT)
    s.settimeout(5)
    me = hostport(fam, local, SIP_PORT)
    them = hostport(fam, peer, SIP_PORT)
    dest = (peer, SIP_PORT)
    contact = ("Contact", "<sip:alice@%s>" % me)

    def req(method, ruri, cid, cseq, branch, ftag, ttag=None, extra=(),
            body=b"", ctype=None, user="bob"):
        to = "<sip:%s@%s>" % (user, them if user == "bob" else hostport(fam, peer))
        if ttag:
            to += ";tag=" + ttag
        headers = [("Via", "SIP/2.0/UDP %s;branch=z9hG4bK%s;rport" % (me, branch)),
                   ("Max-Forwards", "70"),
                   ("From", "<sip:alice@%s>;tag=%s" % (hostport(fam, local), ftag)),
                   ("To", to), ("Call-ID", cid), ("CSeq", "%d %s" % (cseq, method))]
        headers += list(extra)
        headers.append(("User-Agent", "fixture-uac"))
        return build("%s %s SIP/2.0" % (method, ruri), headers, body, ctype)

    def expect(*codes):
        last = None
        for code in codes:
            data, _ = s.recvfrom(65535)
            got = data.split(b" ", 2)[1].decode()
            if got != str(code):
                raise SystemExit("udp: expected %s, got %s" % (code, got))
            last = data
        return last

    bob = "sip:bob@%s" % them
    fam_tag = "v%d" % fam
    s.sendto(req("OPTIONS", bob, "udp-options-%s@fixture" % fam_tag, 1,
                 "-opt-1", "uac-o1", extra=[("Accept", "application/sdp")]), dest)
    expect(200)
    s.sendto(req("REGISTER", "sip:%s" % hostport(fam, peer),
                 "udp-register-%s@fixture" % fam_tag, 1, "-reg-1", "uac-r1",
                 extra=[contact, ("Expires", "3600")], user="alice"), dest)
    expect(200)

    for n in (1, 2):
        cid = "udp-call-%d-%s@fixture" % (n, fam_tag)
        port = 20000 + 2 * (n - 1)
        rsock = udp_socket(fam, local, port)
        common = [contact, ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"),
                  ("Supported", "timer, geolocation")]
        if n == 1:
            # INVITE whose SDP alone is bigger than the MTU
            body = big_sdp(1000 + n, local, port, fam, "alice")
            inv = req("INVITE", bob, cid, 1, "-inv-%d" % n, "uac-c%d" % n,
                      extra=common, body=body, ctype="application/sdp")
        else:
            # INVITE with a multipart/mixed body: SDP + PIDF-LO (RFC 6442)
            b = "fixture-boundary-2"
            loc = "<cid:alice-location@fixture.invalid>"
            body = multipart([
                ("application/sdp", [], sdp(1000 + n, local, port, fam, "alice")),
                ("application/pidf+xml",
                 [("Content-ID", "<alice-location@fixture.invalid>")],
                 pidf_lo(hostport(fam, local)))], b)
            inv = req("INVITE", bob, cid, 1, "-inv-%d" % n, "uac-c%d" % n,
                      extra=common + [("Geolocation", loc),
                                      ("Geolocation-Routing", "yes"),
                                      ("MIME-Version", "1.0")],
                      body=body, ctype="multipart/mixed;boundary=" + b)
        s.sendto(inv, dest)
        ok = expect(100, 180, 200)
        _, rh, rbody = parse(ok)
        ttag = rh["to"].split(";tag=")[1]
        raddr, rport = sdp_media(rbody)
        time.sleep(0.05)
        s.sendto(req("ACK", bob, cid, 1, "-ack-%d" % n, "uac-c%d" % n, ttag), dest)
        send_rtp(rsock, (raddr, rport), 0xDEE0EE80 + n, 10000 * n, 40000 * n)
        time.sleep(0.1)
        s.sendto(req("BYE", bob, cid, 2, "-bye-%d" % n, "uac-c%d" % n, ttag), dest)
        expect(200)
        rsock.close()
        time.sleep(0.2)
    s.close()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "tcp":
        tcp_main(int(sys.argv[2]))
    elif mode in ("uas", "uac"):
        fam, local, peer = int(sys.argv[2]), sys.argv[3], sys.argv[4]
        (uas_main if mode == "uas" else uac_main)(fam, local, peer)
    else:
        raise SystemExit("usage: sipxport.py tcp PORT | uas|uac 4|6 LOCAL PEER")
PYEOF

# --- capture helpers -------------------------------------------------------

# start_capture NAME IFACE FILTER [NETNS] : tcpdump into $WORK/NAME
start_capture() {
    local name=$1 iface=$2 filter=$3 ns=${4:-}
    local pre=()
    [ -z "$ns" ] || pre=(ip netns exec "$ns")
    rm -f "$WORK/$name" "$WORK/$name.err"
    timeout -k 5 "$HARD_TIMEOUT" "${pre[@]}" tcpdump -i "$iface" -n \
        --immediate-mode -U -Z root -s 262144 -w "$WORK/$name" "$filter" \
        2>"$WORK/$name.err" &
    TCPDUMP_PID=$!
    PIDS+=("$TCPDUMP_PID")
    for _ in $(seq 50); do
        grep -q "listening on" "$WORK/$name.err" 2>/dev/null && break
        kill -0 "$TCPDUMP_PID" 2>/dev/null || { cat "$WORK/$name.err" >&2; die "tcpdump failed"; }
        sleep 0.1
    done
    grep -q "listening on" "$WORK/$name.err" || die "tcpdump did not start"
    sleep 0.5
}

# stop_capture NAME : stop tcpdump (timeout passes SIGINT on) and publish
stop_capture() {
    local name=$1 n
    sleep 0.5
    kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$TCPDUMP_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$TCPDUMP_PID" 2>/dev/null || true
    wait "$TCPDUMP_PID" 2>/dev/null || true
    forget "$TCPDUMP_PID"
    TCPDUMP_PID=""
    [ -s "$WORK/$name" ] || die "empty capture $name"
    echo "  $(grep -o '^[0-9]* packets captured' "$WORK/$name.err")"
    n=$(tshark -n -r "$WORK/$name" -Y sip 2>/dev/null | wc -l)
    [ "$n" -gt 0 ] || die "$name: tshark finds no SIP in it"
    install -m 0644 "$WORK/$name" "$OUT/$name"
    echo "  wrote $OUT/$name ($(stat -c %s "$OUT/$name") bytes)"
}

# run LOG CMD... : run a helper to completion, bounded, in the background so
# that a signal reaches the trap at once
run() {
    local log=$1 rc=0 pid
    shift
    timeout -k 5 "$HARD_TIMEOUT" "$@" >"$WORK/$log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    forget "$pid"
    if [ "$rc" -ne 0 ]; then
        tail -25 "$WORK/$log" >&2
        die "$log: exited with $rc"
    fi
}

echo "make-fixtures-transport: working in $WORK"

# --- 1. sip_tcp_segments.pcap: SIP over TCP on loopback --------------------
echo "sip_tcp_segments.pcap"
if ss -Htln "sport = :$TCP_PORT" | grep -q .; then
    die "TCP port $TCP_PORT on this host is in use"
fi
start_capture sip_tcp_segments.pcap lo "tcp port $TCP_PORT"
run tcp.log python3 "$WORK/sipxport.py" tcp "$TCP_PORT"
stop_capture sip_tcp_segments.pcap

# --- 2. two namespaces joined by a veth pair with MTU 1280 -----------------
echo "namespaces $NSA <-> $NSB (mtu $MTU)"
NETNS_MADE=1
ip netns add "$NSA"
ip netns add "$NSB"
ip link add name "$IFA" address 02:00:00:99:00:01 netns "$NSA" type veth \
    peer name "$IFB" address 02:00:00:99:00:02 netns "$NSB"
for ns in "$NSA" "$NSB"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 \
        net.ipv6.conf.default.accept_ra=0 2>/dev/null || true
    ip -n "$ns" link set dev lo up
done
ip -n "$NSA" link set dev "$IFA" mtu $MTU
ip -n "$NSB" link set dev "$IFB" mtu $MTU
ip -n "$NSA" addr add 10.99.0.1/24 dev "$IFA"
ip -n "$NSB" addr add 10.99.0.2/24 dev "$IFB"
ip -n "$NSA" addr add fd00:99::1/64 dev "$IFA" nodad
ip -n "$NSB" addr add fd00:99::2/64 dev "$IFB" nodad
ip -n "$NSA" link set dev "$IFA" up
ip -n "$NSB" link set dev "$IFB" up
sleep 0.5                     # carrier; the first OPTIONS checks the path

# udp_calls FAMILY A B : UAS in NSB on B, UAC in NSA on A
udp_calls() {
    local fam=$1 a=$2 b=$3 rc=0 uas
    timeout -k 5 "$HARD_TIMEOUT" ip netns exec "$NSB" \
        python3 "$WORK/sipxport.py" uas "$fam" "$b" "$a" >"$WORK/uas$fam.log" 2>&1 &
    uas=$!
    PIDS+=("$uas")
    sleep 0.5
    kill -0 "$uas" 2>/dev/null || { cat "$WORK/uas$fam.log" >&2; die "UAS did not start"; }
    run "uac$fam.log" ip netns exec "$NSA" python3 "$WORK/sipxport.py" uac "$fam" "$a" "$b"
    wait "$uas" || rc=$?
    forget "$uas"
    [ "$rc" -eq 0 ] || { tail -25 "$WORK/uas$fam.log" >&2; die "UAS exited with $rc"; }
}

# --- 3. sip_udp_fragments.pcap: UDP/IPv4, fragmented INVITE/200 ------------
# 'ip and udp' also matches non-first fragments (their IP protocol is 17).
echo "sip_udp_fragments.pcap"
start_capture sip_udp_fragments.pcap "$IFB" "ip and udp" "$NSB"
udp_calls 4 10.99.0.1 10.99.0.2
stop_capture sip_udp_fragments.pcap

# --- 4. sip_udp_fragments_ipv6.pcap: UDP/IPv6 with fragment headers --------
# ip6[6] == 44: next header is a fragment header (first and later fragments)
echo "sip_udp_fragments_ipv6.pcap"
start_capture sip_udp_fragments_ipv6.pcap "$IFB" "ip6 and (udp or ip6[6] == 44)" "$NSB"
udp_calls 6 fd00:99::1 fd00:99::2
stop_capture sip_udp_fragments_ipv6.pcap

echo "make-fixtures-transport: done"
ls -l "$OUT"/sip_tcp_segments.pcap "$OUT"/sip_udp_fragments.pcap \
    "$OUT"/sip_udp_fragments_ipv6.pcap
