#!/usr/bin/env python3
"""An independent reader of Datadog agent capture files, written from the agent's own reader.

It follows datadog-agent comp/dogstatsd/replay/impl: file.go (`datadogMatcher`, `fileVersion`:
the 8-byte header, version in the low nibble of byte 4) and reader.go (`ReadNext`: a
little-endian u32 length, then a protobuf `UnixDogstatsdMsg`; a zero length or a length past
the end ends the records; `ReadState`: for version >= 2 the last 4 bytes are the tagger-state
length). It shares no code with lastbucket, so lastbucket's writer is checked against the
agent's reading rules rather than against itself (tests/roundtrip.rs runs it when python3 is
on the machine).

Usage: agent_reader.py FILE   (an uncompressed capture; decompress .zst files first)
Prints one JSON object: version, records, payload_bytes, timestamps, state_len.
"""
import json
import struct
import sys

HEADER = bytes([0xD4, 0x74, 0xD0, 0x60, 0xF0, 0xFF, 0x00, 0x00])


def varint(b, i):
    result = shift = 0
    while True:
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return result, i


def fields(b):
    """Protobuf fields by number (the last occurrence wins, as proto3 does)."""
    i, out = 0, {}
    while i < len(b):
        key, i = varint(b, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(b, i)
        elif wire == 2:
            length, i = varint(b, i)
            value, i = b[i:i + length], i + length
        else:
            raise ValueError(f"unexpected wire type {wire} in field {number}")
        out[number] = value
    return out


def main(path):
    data = open(path, "rb").read()
    # datadogMatcher: exact bytes, except byte 4 which must have the F0 bits set.
    for i, want in enumerate(HEADER):
        got = data[i]
        if (got & want) != want if i == 4 else got != want:
            sys.exit(f"{path}: not a capture header")
    version = data[4] ^ 0xF0
    offset, timestamps, payload_bytes = 8, [], 0
    while offset + 4 <= len(data):
        (size,) = struct.unpack("<I", data[offset:offset + 4])
        offset += 4
        if size == 0 or offset + size > len(data):
            break
        msg = fields(data[offset:offset + size])
        offset += size
        # UnixDogstatsdMsg: 1 timestamp, 2 payloadSize, 3 payload.
        payload = msg.get(3, b"")[: msg.get(2, 0)]
        payload_bytes += len(payload)
        timestamps.append(msg.get(1, 0))
    state_len = struct.unpack("<I", data[-4:])[0] if version >= 2 else None
    print(json.dumps({
        "version": version,
        "records": len(timestamps),
        "payload_bytes": payload_bytes,
        "timestamps": timestamps,
        "state_len": state_len,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
