#!/usr/bin/env python3
"""Seeds for FuzzStream and FuzzConfig.

    seed_more.py STREAM_DIR CONFIG_DIR SIP_DIR RFC4475_DIR CONFIG_FILE...

STREAM_DIR (FuzzStream): each SIP payload of SIP_DIR (FuzzSIP's seeds) and each RFC 4475
torture message (RFC4475_DIR/*.dat) as a stream, and runs of four consecutive payloads as one
stream, each behind the three bytes the target reads first (how to cut: 0 byte by byte, 1 in
order with retransmissions, 2 shuffled with losses; then two seed bytes), every way once.
CONFIG_DIR (FuzzConfig): each CONFIG_FILE whole, and each of its sections alone.
"""
import hashlib
import os
import sys

MAX_STREAM = 4096  # FuzzStream reads at most this much of a stream


def write(directory, data):
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    stream_dir, config_dir, sip_dir, rfc_dir = sys.argv[1:5]
    config_files = sys.argv[5:]
    os.makedirs(stream_dir, exist_ok=True)
    os.makedirs(config_dir, exist_ok=True)

    payloads = []
    for name in sorted(os.listdir(sip_dir)) if os.path.isdir(sip_dir) else []:
        with open(os.path.join(sip_dir, name), "rb") as f:
            payloads.append(f.read())
    for name in sorted(os.listdir(rfc_dir)) if os.path.isdir(rfc_dir) else []:
        if name.endswith(".dat"):
            with open(os.path.join(rfc_dir, name), "rb") as f:
                payloads.append(f.read())
    streams = list(payloads)
    streams += [b"".join(payloads[i:i + 4]) for i in range(0, len(payloads), 4)]
    for number, stream in enumerate(streams):
        for mode in range(3):
            write(stream_dir, bytes([mode, number & 0xFF, (number >> 8) & 0xFF]) + stream[:MAX_STREAM])

    for path in config_files:
        with open(path, "rb") as f:
            text = f.read()
        write(config_dir, text)
        sections = [b""]
        for line in text.splitlines(keepends=True):
            if line.lstrip().startswith(b"[") and sections[-1].strip():
                sections.append(b"")
            sections[-1] += line
        for section in sections:
            if section.strip():
                write(config_dir, section)


if __name__ == "__main__":
    main()
