#!/usr/bin/env python3
"""A SIP-over-TLS client for the tests: one connection to HOST:PORT, checked against CA
(or not, with --no-verify), optionally with a client certificate; sends each --message
file's bytes in turn and collects what comes back. Prints one JSON object:
  {"handshake": "ok" | "failed: WHY", "responses": [status lines...], "closed": bool}
--garbage sends the first message in the clear (no TLS); --half sends the first
HALF bytes of a ClientHello and waits for the server to close."""
import argparse, json, socket, ssl, sys, time

parser = argparse.ArgumentParser()
parser.add_argument("host")
parser.add_argument("port", type=int)
parser.add_argument("--ca")
parser.add_argument("--no-verify", action="store_true")
parser.add_argument("--cert")
parser.add_argument("--key")
parser.add_argument("--server-name")
parser.add_argument("--message", action="append", default=[])
parser.add_argument("--expect", type=int, default=0, help="final responses to wait for")
parser.add_argument("--timeout", type=float, default=5.0)
parser.add_argument("--garbage", action="store_true")
parser.add_argument("--half", type=int, default=0)
args = parser.parse_args()

result = {"handshake": "ok", "responses": [], "closed": False}
raw = socket.create_connection((args.host, args.port), timeout=args.timeout)
deadline = time.monotonic() + args.timeout

def collect(sock):
    text = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except (ssl.SSLError, OSError) as error:
            result["closed"] = True
            result.setdefault("error", str(error))
            break
        if not chunk:
            result["closed"] = True
            break
        text += chunk
        lines = [l.decode(errors="replace") for l in text.split(b"\r\n") if l.startswith(b"SIP/2.0 ")]
        result["responses"] = lines
        finals = [l for l in lines if not l.startswith("SIP/2.0 1")]
        if args.expect and len(finals) >= args.expect:
            break

if args.garbage or args.half:
    if args.half:
        # A real ClientHello, cut: made with a memory BIO pair, never sent whole.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        session = context.wrap_bio(incoming, outgoing, server_side=False)
        try:
            session.do_handshake()
        except ssl.SSLWantReadError:
            pass
        raw.sendall(outgoing.read()[: args.half])
    else:
        for path in args.message:
            raw.sendall(open(path, "rb").read())
    result["handshake"] = "not tried"
    collect(raw)
    print(json.dumps(result))
    sys.exit(0)

context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
if args.no_verify:
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
else:
    context.load_verify_locations(args.ca)
if args.cert:
    context.load_cert_chain(args.cert, args.key)
try:
    sock = context.wrap_socket(raw, server_hostname=args.server_name or args.host)
except (ssl.SSLError, OSError) as error:
    result["handshake"] = "failed: " + str(error)
    print(json.dumps(result))
    sys.exit(0)
try:
    for path in args.message:
        sock.sendall(open(path, "rb").read())
except (ssl.SSLError, OSError) as error:
    result["closed"] = True
    result["error"] = str(error)
collect(sock)
print(json.dumps(result))
