#!/usr/bin/env python3
"""The media that scripts/soak and scripts/demo play, from SIPp's own g711a.pcap:

    make-talk-media.py G711A_PCAP AUDIO_PCMA TALK_PCAP SECONDS

AUDIO_PCMA: the raw A-law of the capture, for a proxy's rtp_stream (SIPp UAS).
TALK_PCAP:  that audio looped into SECONDS of RTP (PT 8, 240 bytes every 30 ms, from
            127.0.0.100:17100 to 127.0.0.1:17000), for a caller's play_pcap_audio; SIPp
            rewrites the addresses and ports to the call's own when it replays it.
"""
import struct
import sys

src, pcma, talk, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
data = open(src, "rb").read()
audio, off = bytearray(), 24
while off + 16 <= len(data):
    _, _, caplen, _ = struct.unpack("<IIII", data[off:off + 16])
    pkt = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    ihl = (pkt[14] & 0x0F) * 4
    audio += pkt[14 + ihl + 8 + 12:]
open(pcma, "wb").write(audio)
out = open(talk, "wb")
out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
frames = seconds * 1000 // 30
for i in range(frames):
    chunk = bytes(audio[(i * 240) % (len(audio) - 240):][:240])
    rtp = struct.pack("!BBHII", 0x80, 8, i & 0xFFFF, (i * 240) & 0xFFFFFFFF, 0x50A40001) + chunk
    udp = struct.pack("!HHHH", 17100, 17000, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                     bytes([127, 0, 0, 100]), bytes([127, 0, 0, 1])) + udp
    frame = b"\0" * 12 + b"\x08\x00" + ip
    t = i * 30000
    out.write(struct.pack("<IIII", 1_000_000 + t // 1_000_000, t % 1_000_000, len(frame), len(frame)) + frame)
