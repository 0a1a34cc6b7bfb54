"""Ethernet frames packed by hand: IPv4/IPv6 with TCP or UDP, checksums set (RFC 791, 8200, 9293, 768, 1071).

Pure code, struct only: building each header with dpkt objects cost most of the seeding time, and the tests parse
the frames with dpkt, which so checks them independently.
"""

import struct

ETH_IP4, ETH_IP6 = 0x0800, 0x86DD
PROTO_TCP, PROTO_UDP = 6, 17
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
TTL = 64
_IP4 = struct.Struct("!BBHHHBBH4s4s")
_IP6 = struct.Struct("!IHBB16s16s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")


def checksum(data):
    """The Internet checksum of `data` (RFC 1071): summed in native byte order, which gives the same bytes."""
    if len(data) % 2:
        data += b"\0"
    total = sum(memoryview(data).cast("H"))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int.from_bytes(struct.pack("=H", ~total & 0xFFFF), "big")


def _with_checksum(data, offset, value):
    return data[:offset] + struct.pack("!H", value) + data[offset + 2:]


def _pseudo_header(src, dst, proto, length):
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!I3xB", length, proto)


def tcp(src, dst, sport, dport, seq, ack, flags, window, options=b"", payload=b""):
    """A TCP segment between IP addresses `src` and `dst` (packed, 4 or 16 bytes); options padded by the caller."""
    segment = _TCP.pack(sport, dport, seq, ack, (5 + len(options) // 4) << 4, flags, window, 0, 0) + options + payload
    return _with_checksum(segment, 16, checksum(_pseudo_header(src, dst, PROTO_TCP, len(segment)) + segment))


def udp(src, dst, sport, dport, payload):
    datagram = _UDP.pack(sport, dport, 8 + len(payload), 0) + payload
    value = checksum(_pseudo_header(src, dst, PROTO_UDP, len(datagram)) + datagram)
    return _with_checksum(datagram, 6, value or 0xFFFF)  # 0 means "no checksum" in UDP: sent as all ones


def ip(src, dst, proto, ident, transport):
    """An IPv4 packet (don't fragment, no options) or an IPv6 one (no extension header), by the address size, and
    its Ethernet type."""
    if len(src) == 16:
        return _IP6.pack(6 << 28, len(transport), proto, TTL, src, dst) + transport, ETH_IP6
    header = _IP4.pack(0x45, 0, 20 + len(transport), ident, 0x4000, TTL, proto, 0, src, dst)
    return _with_checksum(header, 10, checksum(header)) + transport, ETH_IP4


def ethernet(src_mac, dst_mac, ethertype, payload):
    return dst_mac + src_mac + struct.pack("!H", ethertype) + payload
