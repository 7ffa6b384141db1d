#!/usr/bin/env python3
"""Runs gatewayd with a /dev/log this script reads, for HeadlessTests.

Must be started in a private mount namespace of its own:

    unshare --mount --propagation private python3 syslog_daemon.py \
        BINARY CONFIG PORT RELOAD_FILE BAD_FILE WORKDIR

There it mounts a tmpfs over /dev (the host's /dev is not touched: the script refuses to
mount anything when its mount namespace is its parent's), binds a unix datagram socket at
/dev/log, starts BINARY -c CONFIG with its stdout and stderr in WORKDIR, and then:
sends one INVITE to 127.0.0.1:PORT (from 127.0.0.100:PORT+2), copies RELOAD_FILE over
CONFIG and sends SIGHUP, copies BAD_FILE over CONFIG and sends SIGHUP, and sends SIGTERM.
Each step waits for the log line that says it happened. It prints one JSON object:
{"pid", "answer", "exit", "steps", "datagrams", "stderr"}.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

binary, config, port, reload_file, bad_file, workdir = sys.argv[1:7]
port = int(port)

if os.readlink("/proc/self/ns/mnt") == os.readlink(f"/proc/{os.getppid()}/ns/mnt"):
    sys.exit("syslog_daemon.py: not in a mount namespace of its own; refusing to mount over /dev")
subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "gatewayd-test-dev", "/dev"], check=True)

log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
log.bind("/dev/log")
datagrams = []
steps = {}


def collect(marker, seconds):
    """Reads datagrams until one contains `marker` (True) or `seconds` pass (False)."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return False
        log.settimeout(left)
        try:
            data = log.recv(65536)
        except socket.timeout:
            return False
        text = data.decode("utf-8", "replace")
        datagrams.append(text)
        if marker in text:
            return True


out = open(os.path.join(workdir, "syslog-daemon.out"), "wb")
err = open(os.path.join(workdir, "syslog-daemon.err"), "wb")
daemon = subprocess.Popen([binary, "-c", config], stdin=subprocess.PIPE, stdout=out, stderr=err)
daemon.stdin.close()
answer = None
status = None
try:
    steps["start"] = collect("listening on", 10)

    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.100", port + 2))
    client.settimeout(3)
    invite = (f"INVITE sip:alice@127.0.0.1:{port} SIP/2.0\r\n"
              f"Via: SIP/2.0/UDP 127.0.0.100:{port + 2};branch=z9hG4bKsyslog1\r\n"
              "Max-Forwards: 70\r\nFrom: <sip:c@h>;tag=1\r\nTo: <sip:alice@h>\r\n"
              "Call-ID: syslog-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    client.sendto(invite.encode(), ("127.0.0.1", port))
    try:
        while True:
            reply = client.recv(65536).decode("utf-8", "replace")
            if not reply.startswith("SIP/2.0 100"):
                answer = reply.split("\r\n")[0]
                break
    except socket.timeout:
        pass

    shutil.copyfile(reload_file, config)
    daemon.send_signal(signal.SIGHUP)
    steps["reload"] = collect("reloaded ", 5)

    shutil.copyfile(bad_file, config)
    daemon.send_signal(signal.SIGHUP)
    steps["bad_reload"] = collect("reload failed", 5)

    daemon.send_signal(signal.SIGTERM)
    steps["stop"] = collect(" answered busy", 10)
    try:
        status = daemon.wait(10)
    except subprocess.TimeoutExpired:
        status = None
    # Anything still queued (nothing more is expected).
    collect("\0never\0", 0.3)
finally:
    if daemon.poll() is None:
        daemon.kill()
        daemon.wait()
    out.close()
    err.close()

with open(os.path.join(workdir, "syslog-daemon.err"), "rb") as f:
    stderr = f.read().decode("utf-8", "replace")
print(json.dumps({"pid": daemon.pid, "answer": answer, "exit": status, "steps": steps,
                  "datagrams": datagrams, "stderr": stderr}))
