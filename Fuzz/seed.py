#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, from classic pcap files (pcapng files are skipped).

    seed.py PACKET_DIR SIP_DIR FILE.pcap...

PACKET_DIR (FuzzPacket): one seed per frame, up to MAX_FRAMES frames per file, prefixed with
the link-type byte the target expects; plus seeds of several consecutive frames joined by the
separator FE ED FA CE, so that TCP streams, fragments and call flows appear in one input.
SIP_DIR (FuzzSIP): UDP and TCP payloads that start with an ASCII letter (SIP, SDP, MGCP), or
with three digits and a space (MGCP responses).
"""
import hashlib
import os
import struct
import sys

MAX_FRAMES = 200
MAX_SIP = 200
GROUP = 12          # frames per multi-frame seed
MAX_GROUPS = 20     # multi-frame seeds per file
MAX_LEN = 65536     # the targets run with -max_len=65536
SEPARATOR = b"\xfe\xed\xfa\xce"

# pcap LINKTYPE -> first byte of a FuzzPacket input (index into the target's link types).
LINK_BYTE = {1: 0, 113: 1, 276: 2, 101: 3, 12: 3, 14: 3, 228: 3, 229: 3, 0: 4, 108: 5}


def read_pcap(path):
    """(linktype, [frame bytes]) of a classic pcap file, or None when it is not one."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return None
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        return None
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    frames = []
    offset = 24
    while offset + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        offset += 16
        if caplen > len(data) - offset:
            break
        frames.append(data[offset:offset + caplen])
        offset += caplen
    return linktype, frames


def network_layer(linktype, frame):
    """The IP packet inside a frame, or None."""
    if linktype == 1:
        if len(frame) < 14:
            return None
        ethertype, pos = struct.unpack(">H", frame[12:14])[0], 14
        while ethertype in (0x8100, 0x88A8, 0x9100) and len(frame) >= pos + 4:
            ethertype, pos = struct.unpack(">H", frame[pos + 2:pos + 4])[0], pos + 4
        return frame[pos:] if ethertype in (0x0800, 0x86DD) else None
    if linktype == 113:
        return frame[16:] if len(frame) >= 16 else None
    if linktype == 276:
        return frame[20:] if len(frame) >= 20 else None
    if linktype in (0, 108):
        return frame[4:] if len(frame) >= 4 else None
    if linktype in (12, 14, 101, 228, 229):
        return frame
    return None


def transport_payload(packet):
    """The UDP or TCP payload of an unfragmented IPv4/IPv6 packet, or None."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4 and len(packet) >= 20:
        ihl = (packet[0] & 0x0F) * 4
        total = struct.unpack(">H", packet[2:4])[0]
        if struct.unpack(">H", packet[6:8])[0] & 0x3FFF:
            return None  # a fragment
        proto, rest = packet[9], packet[ihl:min(total, len(packet))]
    elif version == 6 and len(packet) >= 40:
        proto, pos = packet[6], 40
        while proto in (0, 43, 60) and len(packet) >= pos + 8:
            proto, pos = packet[pos], pos + (packet[pos + 1] + 1) * 8
        rest = packet[pos:]
    else:
        return None
    if proto == 17 and len(rest) >= 8:
        return rest[8:]
    if proto == 6 and len(rest) >= 20:
        return rest[(rest[12] >> 4) * 4:]
    return None


def pick(frames):
    """Up to MAX_FRAMES frames: the start of the capture (call setup), then a spread."""
    if len(frames) <= MAX_FRAMES:
        return frames
    head = frames[:MAX_FRAMES * 3 // 4]
    rest = frames[len(head):]
    step = len(rest) / (MAX_FRAMES - len(head))
    return head + [rest[int(i * step)] for i in range(MAX_FRAMES - len(head))]


def write(directory, name, data, seen):
    digest = hashlib.sha1(data).hexdigest()
    if digest in seen:
        return 0
    seen.add(digest)
    with open(os.path.join(directory, name + "-" + digest[:12]), "wb") as f:
        f.write(data)
    return 1


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    packet_dir, sip_dir = sys.argv[1], sys.argv[2]
    os.makedirs(packet_dir, exist_ok=True)
    os.makedirs(sip_dir, exist_ok=True)
    seen = set()
    packets = sips = 0
    for path in sys.argv[3:]:
        try:
            parsed = read_pcap(path)
        except OSError:
            continue
        if parsed is None:
            continue  # pcapng or not a capture
        linktype, frames = parsed
        base = os.path.splitext(os.path.basename(path))[0]
        if linktype in LINK_BYTE:
            prefix = bytes([LINK_BYTE[linktype]])
            for frame in pick(frames):
                packets += write(packet_dir, base, prefix + frame[:MAX_LEN - 1], seen)
            for g in range(min(MAX_GROUPS, (len(frames) + GROUP - 1) // GROUP)):
                group = prefix + SEPARATOR.join(frames[g * GROUP:(g + 1) * GROUP])
                if len(group) <= MAX_LEN:
                    packets += write(packet_dir, base + "-multi", group, seen)
        count = 0
        for frame in frames:
            if count >= MAX_SIP:
                break
            packet = network_layer(linktype, frame)
            payload = transport_payload(packet) if packet is not None else None
            # Letters start SIP, SDP and MGCP commands; "200 " starts an MGCP response.
            if payload and (chr(payload[0]).isalpha() and payload[0] < 0x80
                            or payload[:3].isdigit() and payload[3:4] == b" "):
                wrote = write(sip_dir, base, payload[:MAX_LEN], seen)
                count += wrote
                sips += wrote
    print("seeds: %d packet, %d sip" % (packets, sips))


if __name__ == "__main__":
    main()
