# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Streaming pcap/pcapng verifier: checks the file structure, counts packets and looks for one flow."""

from __future__ import annotations

import datetime
import ipaddress
import os
import struct

from ansible_collections.stamus.scs.plugins.module_utils._decap import LINKTYPE_STARTS, PORT_PROTOCOLS, frame_layers

# Classic pcap magic (as read big-endian from the first 4 bytes) -> (byte order, time resolution).
PCAP_MAGICS = {
    0xA1B2C3D4: ("big", "us"),
    0xD4C3B2A1: ("little", "us"),
    0xA1B23C4D: ("big", "ns"),
    0x4D3CB2A1: ("little", "ns"),
}
PCAPNG_SHB_TYPE = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGICS = {b"\x1a\x2b\x3c\x4d": "big", b"\x4d\x3c\x2b\x1a": "little"}

PCAP_HEADER_LEN = 24
PCAP_RECORD_LEN = 16
PCAPNG_SHB_MIN_LEN = 28

PCAPNG_BT_IDB = 0x00000001
PCAPNG_BT_PB = 0x00000002  # obsolete Packet Block, still written by some old tools
PCAPNG_BT_SPB = 0x00000003
PCAPNG_BT_EPB = 0x00000006
PCAPNG_OPT_ENDOFOPT = 0
PCAPNG_OPT_IF_TSRESOL = 9
PCAPNG_OPT_IF_TSOFFSET = 14

# libpcap refuses records larger than this whatever the header's snaplen says (and tolerates
# records between the snaplen and this, so we do too).
MAX_SNAPLEN = 262144
# Bytes of a packet kept for parsing headers; the rest of a longer record is skipped by seeking,
# so a corrupt length never makes us allocate a huge buffer.
PARSE_LIMIT = 65536
# Largest non-packet pcapng block body (Section Header and Interface Description Blocks) read into memory; options
# beyond it are ignored.
BLOCK_READ_LIMIT = 1 << 20
READ_BUFFER_SIZE = 256 * 1024

LINKTYPE_NAMES = {
    0: "NULL",
    1: "ETHERNET",
    6: "IEEE802_5",
    8: "SLIP",
    9: "PPP",
    10: "FDDI",
    12: "RAW",
    14: "RAW",
    50: "PPP_HDLC",
    51: "PPP_ETHER",
    101: "RAW",
    104: "C_HDLC",
    105: "IEEE802_11",
    108: "LOOP",
    113: "LINUX_SLL",
    119: "PRISM_HEADER",
    127: "IEEE802_11_RADIOTAP",
    192: "PPI",
    197: "ERF",
    220: "USB_LINUX_MMAPPED",
    228: "IPV4",
    229: "IPV6",
    239: "NFLOG",
    252: "WIRESHARK_UPPER_PDU",
    276: "LINUX_SLL2",
}

PROTOCOL_NUMBERS = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132}

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

# Leading bytes of things commonly saved by mistake instead of a capture (e.g. an error page).
_CONTENT_HINTS = (
    (b"<!doctype html", "HTML"),
    (b"<html", "HTML"),
    (b"<?xml", "XML"),
    (b"<", "HTML/XML markup"),
    (b"{", "JSON"),
    (b"[", "JSON"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"pk\x03\x04", "a zip archive"),
    (b"bzh", "bzip2-compressed data"),
    (b"\xfd7zxz", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
)


class PcapFormatError(ValueError):
    """The file is not a well-formed pcap or pcapng capture; the message says what and where."""


# ---------------------------------------------------------------------------------------------
# Flow matching
# ---------------------------------------------------------------------------------------------

def _normalize_ip(five_tuple, key):
    value = five_tuple.get(key)
    try:
        return ipaddress.ip_address(value).packed
    except ValueError:
        raise ValueError("five_tuple %s %r is not an IP address" % (key, value)) from None


def _normalize_proto(value):
    if isinstance(value, bool):
        raise ValueError("five_tuple proto %r is not a protocol name or number" % (value,))
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    elif isinstance(value, str) and value.strip().lower() in PROTOCOL_NUMBERS:
        number = PROTOCOL_NUMBERS[value.strip().lower()]
    else:
        raise ValueError("five_tuple proto %r is not a protocol name or number" % (value,))
    if not 0 <= number <= 255:
        raise ValueError("five_tuple proto %r is not between 0 and 255" % (value,))
    return number


def _normalize_port(five_tuple, key):
    value = five_tuple.get(key)
    if value is None or value == "":
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValueError("five_tuple %s %r is not a port number" % (key, value)) from None
    if isinstance(value, bool) or not 0 <= port <= 65535:
        raise ValueError("five_tuple %s %r is not a port number" % (key, value))
    return port


class FlowFilter:
    """One flow (as in a Suricata alert), matched against packets in either direction.

    Ports left out (or given for a protocol without ports, such as ICMP) are not compared.
    """

    __slots__ = ("proto", "src", "dst", "sport", "dport", "has_ports")

    def __init__(self, five_tuple):
        if not isinstance(five_tuple, dict):
            raise ValueError("five_tuple must be a dict, got %s" % type(five_tuple).__name__)
        self.proto = _normalize_proto(five_tuple.get("proto"))
        self.src = _normalize_ip(five_tuple, "src_ip")
        self.dst = _normalize_ip(five_tuple, "dest_ip")
        self.sport = self.dport = None
        if self.proto in PORT_PROTOCOLS:
            self.sport = _normalize_port(five_tuple, "src_port")
            self.dport = _normalize_port(five_tuple, "dest_port")
        self.has_ports = self.sport is not None or self.dport is not None

    def matches(self, proto, src, dst, sport, dport):
        """Whether an IP packet (addresses as packed bytes, ports None when unknown) is in the flow."""
        if proto != self.proto:
            return False
        forward = src == self.src and dst == self.dst
        reverse = src == self.dst and dst == self.src
        if not (forward or reverse):
            return False
        if not self.has_ports:
            return True
        if sport is None:
            return False
        if forward and self.sport in (None, sport) and self.dport in (None, dport):
            return True
        return reverse and self.sport in (None, dport) and self.dport in (None, sport)


# Link types whose packets we can look into (see _decap.py for what is decoded inside them).
PARSEABLE_LINKTYPES = frozenset(LINKTYPE_STARTS)


def flow_layer(linktype, buf, flow, off=0, end=None):
    """Where the captured bytes ``buf[off:end]`` of a ``linktype`` packet hold a packet of ``flow``.

    Every IP layer of the frame is tried, outermost first: the result is the matching layer's encapsulation
    (``()`` for the outer packet, ``("vxlan",)``...), or None when no layer is of the flow. Never raises.
    """
    matches = flow.matches
    for encapsulation, proto, src, dst, sport, dport in frame_layers(linktype, buf, off, end):
        if matches(proto, src, dst, sport, dport):
            return encapsulation
    return None


def packet_matches(linktype, buf, flow, off=0, end=None):
    """Whether the captured bytes ``buf[off:end]`` of a ``linktype`` packet, or a packet tunnelled in them, belong to
    ``flow``; never raises."""
    return flow_layer(linktype, buf, flow, off, end) is not None


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------

def linktype_name(linktype):
    """The LINKTYPE_ name (without prefix) of a link-layer type number, or "UNKNOWN"."""
    return LINKTYPE_NAMES.get(linktype, "UNKNOWN")


def _content_hint(head):
    sniff = head.lstrip().lower()
    for prefix, label in _CONTENT_HINTS:
        if sniff.startswith(prefix):
            return label
    if head and all(32 <= byte < 127 or byte in (9, 10, 13) for byte in head):
        return "text"
    return None


def _bad_magic_error(head):
    hint = _content_hint(head)
    message = "not a pcap or pcapng file (magic %s" % head[:4].hex()
    if hint:
        message += ": looks like %s" % hint
    return PcapFormatError(message + ")")


def _iso_utc(microseconds, what):
    try:
        moment = _EPOCH + datetime.timedelta(microseconds=microseconds)
    except OverflowError:
        raise PcapFormatError("%s has an out-of-range timestamp (%d us since 1970)" % (what, microseconds)) from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _truncated(what, offset, declared, remaining):
    return PcapFormatError("truncated: %s at offset %d declares %d bytes but only %d remain" % (what, offset, declared, remaining))


def _read_exact(handle, size, what, offset):
    data = handle.read(size)
    if len(data) != size:
        raise _truncated(what, offset, size, len(data))
    return data


class _Summary:
    """Counters filled while walking the records."""

    __slots__ = ("packets", "bytes", "first_time", "last_time", "flow", "flow_packets", "flow_parseable",
                 "flow_encapsulation")

    def __init__(self, flow):
        self.packets = 0
        self.bytes = 0
        self.first_time = None  # microseconds since 1970 of the first timestamped record in file order
        self.last_time = None
        self.flow = flow
        self.flow_packets = 0
        self.flow_parseable = True
        self.flow_encapsulation = None  # where the first packet of the flow was found (see flow_layer)

    def count_flow_packet(self, encapsulation):
        self.flow_packets += 1
        if self.flow_encapsulation is None:
            self.flow_encapsulation = encapsulation


def _result(fmt, byte_order, resolution, linktype, snaplen, summary):
    flow_packets = flow_present = encapsulation = None
    if summary.flow is not None and summary.flow_parseable:
        flow_packets = summary.flow_packets
        flow_present = flow_packets > 0
        if flow_present:
            encapsulation = list(summary.flow_encapsulation)
    return {
        "format": fmt,
        "byte_order": byte_order,
        "time_resolution": resolution,
        "linktype": linktype,
        "linktype_name": linktype_name(linktype),
        "snaplen": snaplen,
        "packets": summary.packets,
        "bytes": summary.bytes,
        "first_packet_time": None if summary.first_time is None else _iso_utc(summary.first_time, "the first packet"),
        "last_packet_time": None if summary.last_time is None else _iso_utc(summary.last_time, "the last packet"),
        "flow_packets": flow_packets,
        "flow_present": flow_present,
        "flow_encapsulation": encapsulation,
        "header_only": summary.packets == 0,
    }


# ---------------------------------------------------------------------------------------------
# Classic pcap
# ---------------------------------------------------------------------------------------------

def _summarize_classic(handle, size, magic, summary):
    byte_order, resolution = PCAP_MAGICS[magic]
    endian = "<" if byte_order == "little" else ">"
    if size < PCAP_HEADER_LEN:
        raise PcapFormatError("truncated: the pcap file header needs %d bytes but the file has only %d" % (PCAP_HEADER_LEN, size))
    header = _read_exact(handle, PCAP_HEADER_LEN, "pcap file header", 0)
    major, minor, _unused_zone, _unused_sigfigs, snaplen, network = struct.unpack(endian + "HHiIII", header[4:])
    if major != 2:
        raise PcapFormatError("unsupported pcap version %d.%d (expected 2.x)" % (major, minor))
    linktype = network & 0x03FFFFFF  # the upper bits carry FCS information
    if summary.flow is not None and linktype not in PARSEABLE_LINKTYPES:
        summary.flow_parseable = False
    _walk_classic_records(handle, size, endian, resolution, snaplen, linktype, summary)
    return _result("pcap", byte_order, resolution, linktype, snaplen, summary)


def _walk_classic_records(handle, size, endian, resolution, snaplen, linktype, summary):
    """Check and count every record after the file header.

    Deliberately one flat loop with locals: per-packet function calls and attribute lookups
    are what make a million-packet file slow.
    """
    unpack_record = struct.Struct(endian + "IIII").unpack
    read = handle.read
    seek = handle.seek
    limit = max(snaplen, MAX_SNAPLEN)
    frac_per_us = 1000 if resolution == "ns" else 1
    flow = summary.flow if summary.flow_parseable else None
    offset = PCAP_HEADER_LEN
    number = 0
    total = 0
    first = last = None
    while True:
        record = read(PCAP_RECORD_LEN)
        if len(record) != PCAP_RECORD_LEN:
            if not record:
                break
            raise _truncated("record header of packet %d" % (number + 1), offset, PCAP_RECORD_LEN, len(record))
        number += 1
        seconds, fraction, caplen, _unused_origlen = unpack_record(record)
        if caplen > limit:
            raise PcapFormatError("packet %d at offset %d declares %d captured bytes, more than the snaplen %d" % (number, offset, caplen, snaplen))
        body_offset = offset + PCAP_RECORD_LEN
        if body_offset + caplen > size:
            raise _truncated("packet %d" % number, offset, caplen, size - body_offset)
        if flow is None:
            seek(caplen, 1)
        else:
            keep = caplen if caplen <= PARSE_LIMIT else PARSE_LIMIT
            body = read(keep)
            if len(body) != keep:
                raise _truncated("packet %d" % number, offset, caplen, len(body))
            if keep != caplen:
                seek(caplen - keep, 1)
            encapsulation = flow_layer(linktype, body, flow, 0, keep)
            if encapsulation is not None:
                summary.count_flow_packet(encapsulation)
        offset = body_offset + caplen
        total += caplen
        last = (seconds, fraction)
        if first is None:
            first = last
    summary.packets = number
    summary.bytes = total
    if first is not None:
        summary.first_time = first[0] * 1000000 + first[1] // frac_per_us
        summary.last_time = last[0] * 1000000 + last[1] // frac_per_us


# ---------------------------------------------------------------------------------------------
# pcapng
# ---------------------------------------------------------------------------------------------

class _Interface:
    """What an Interface Description Block tells us that matters for packets."""

    __slots__ = ("linktype", "snaplen", "ticks_per_second", "offset_seconds")

    def __init__(self, linktype, snaplen, ticks_per_second, offset_seconds):
        self.linktype = linktype
        self.snaplen = snaplen
        self.ticks_per_second = ticks_per_second
        self.offset_seconds = offset_seconds

    def microseconds(self, ticks):
        return (ticks * 1000000) // self.ticks_per_second + self.offset_seconds * 1000000


def _iter_options(body, start, endian):
    """Yield (code, value) for the options from ``body[start:]``, stopping at opt_endofopt or a malformed one."""
    unpack = struct.Struct(endian + "HH").unpack_from
    pos = start
    while pos + 4 <= len(body):
        code, length = unpack(body, pos)
        if code == PCAPNG_OPT_ENDOFOPT or pos + 4 + length > len(body):
            return
        yield code, body[pos + 4:pos + 4 + length]
        pos += 4 + ((length + 3) & ~3)


def _ticks_per_second(tsresol):
    if tsresol & 0x80:
        return 2 ** (tsresol & 0x7F)
    return 10 ** tsresol


def _parse_interface(body, endian, offset):
    if len(body) < 8:
        raise PcapFormatError("interface description block at offset %d is too short (%d bytes of body)" % (offset, len(body)))
    linktype, _unused_reserved, snaplen = struct.unpack_from(endian + "HHI", body)
    ticks_per_second = 1000000
    offset_seconds = 0
    for code, value in _iter_options(body, 8, endian):
        if code == PCAPNG_OPT_IF_TSRESOL and len(value) >= 1:
            if (value[0] & 0x7F) > (63 if value[0] & 0x80 else 19):
                raise PcapFormatError("interface description block at offset %d has an unusable if_tsresol %#x" % (offset, value[0]))
            ticks_per_second = _ticks_per_second(value[0])
        elif code == PCAPNG_OPT_IF_TSOFFSET and len(value) >= 8:
            offset_seconds = struct.unpack_from(endian + "q", value)[0]
    return _Interface(linktype, snaplen, ticks_per_second, offset_seconds)


def _time_resolution(interface):
    return "ns" if interface is not None and interface.ticks_per_second > 1000000 else "us"


def _read_section_header(handle, size, offset):
    """Read a Section Header Block at ``offset``; return (byte order, endian prefix, block length)."""
    if size - offset < PCAPNG_SHB_MIN_LEN:
        raise _truncated("pcapng section header block", offset, PCAPNG_SHB_MIN_LEN, size - offset)
    head = _read_exact(handle, 12, "pcapng section header block", offset)
    byte_order = PCAPNG_BYTE_ORDER_MAGICS.get(head[8:12])
    if byte_order is None:
        raise PcapFormatError("pcapng section header block at offset %d has a bad byte-order magic %s" % (offset, head[8:12].hex()))
    endian = "<" if byte_order == "little" else ">"
    length = struct.unpack_from(endian + "I", head, 4)[0]
    if length < PCAPNG_SHB_MIN_LEN or length % 4:
        raise PcapFormatError("pcapng section header block at offset %d has an invalid length %d" % (offset, length))
    if offset + length > size:
        raise _truncated("pcapng section header block", offset, length, size - offset)
    # After the byte-order magic: version, section length, options (capped like other blocks), trailing length.
    rest = _read_capped(handle, length - 16, BLOCK_READ_LIMIT, offset)
    major, minor = struct.unpack_from(endian + "HH", rest)
    if major != 1:
        raise PcapFormatError("unsupported pcapng version %d.%d at offset %d (expected 1.x)" % (major, minor, offset))
    _check_trailer(rest, endian, length, "section header block", offset)
    return byte_order, endian, length


def _check_trailer(data, endian, length, what, offset):
    trailer = struct.unpack_from(endian + "I", data, len(data) - 4)[0]
    if trailer != length:
        raise PcapFormatError("pcapng %s at offset %d: trailing length %d does not match its length %d" % (what, offset, trailer, length))


def _read_block_body(handle, length, keep, offset):
    """Read up to ``keep`` bytes of a block's body plus its trailing length field, seeking over the rest."""
    return _read_capped(handle, length - 12, keep, offset)


def _read_capped(handle, body_len, keep, offset):
    """Read up to ``keep`` of the next ``body_len`` bytes, seek over the rest, then read the 4-byte trailing length."""
    if body_len <= keep:
        return _read_exact(handle, body_len + 4, "pcapng block", offset)
    body = _read_exact(handle, keep, "pcapng block", offset)
    handle.seek(body_len - keep, 1)
    return body + _read_exact(handle, 4, "pcapng block", offset)


class _PcapngState:
    """Section and interface bookkeeping while walking pcapng blocks."""

    __slots__ = ("byte_order", "first_interface", "interfaces", "first_packet", "last_packet")

    def __init__(self):
        self.byte_order = None
        self.first_interface = None
        self.interfaces = []
        self.first_packet = None  # (interface, ticks)
        self.last_packet = None


def _summarize_pcapng(handle, size, summary):
    state = _PcapngState()
    state.byte_order, endian, length = _read_section_header(handle, size, 0)
    offset = length
    block_header = struct.Struct(endian + "II").unpack
    while True:
        head = handle.read(8)
        if len(head) != 8:
            if not head:
                break
            raise _truncated("pcapng block header", offset, 8, len(head))
        block_type, length = block_header(head)
        if block_type == PCAPNG_SHB_TYPE:
            handle.seek(offset)
            state.interfaces = []  # interface ids are local to a section
            _unused_order, endian, length = _read_section_header(handle, size, offset)
            block_header = struct.Struct(endian + "II").unpack
            offset += length
            continue
        if length < 12 or length % 4:
            raise PcapFormatError("pcapng block of type %#x at offset %d has an invalid length %d" % (block_type, offset, length))
        if offset + length > size:
            raise _truncated("pcapng block of type %#x" % block_type, offset, length, size - offset)
        _handle_block(handle, state, summary, endian, block_type, length, offset)
        offset += length
    return _pcapng_result(state, summary)


def _handle_block(handle, state, summary, endian, block_type, length, offset):
    if block_type in (PCAPNG_BT_EPB, PCAPNG_BT_SPB, PCAPNG_BT_PB):
        data = _read_block_body(handle, length, PARSE_LIMIT + 32, offset)
        _check_trailer(data, endian, length, "block of type %#x" % block_type, offset)
        _count_packet(state, summary, endian, block_type, data, length, offset)
    elif block_type == PCAPNG_BT_IDB:
        data = _read_block_body(handle, length, BLOCK_READ_LIMIT, offset)
        _check_trailer(data, endian, length, "interface description block", offset)
        interface = _parse_interface(data[:-4], endian, offset)
        state.interfaces.append(interface)
        if state.first_interface is None:
            state.first_interface = interface
        if summary.flow is not None and interface.linktype not in PARSEABLE_LINKTYPES:
            summary.flow_parseable = False
    else:
        handle.seek(length - 12, 1)
        _check_trailer(_read_exact(handle, 4, "pcapng block", offset), endian, length, "block of type %#x" % block_type, offset)


def _packet_interface(state, interface_id, number, offset):
    if interface_id >= len(state.interfaces):
        raise PcapFormatError("packet %d at offset %d refers to interface %d but its section defines %d"
                              % (number, offset, interface_id, len(state.interfaces)))
    return state.interfaces[interface_id]


def _simple_packet_fields(state, endian, data, body_len, number, offset):
    """(interface, captured length, timestamp ticks, data offset) of a Simple Packet Block."""
    if body_len < 4:
        raise PcapFormatError("simple packet block (packet %d) at offset %d is too short" % (number, offset))
    interface = _packet_interface(state, 0, number, offset)
    # The block holds min(original length, snaplen) bytes, padded; it has no timestamp.
    caplen = min(struct.unpack_from(endian + "I", data)[0], body_len - 4)
    if interface.snaplen:
        caplen = min(caplen, interface.snaplen)
    return interface, caplen, None, 4


def _enhanced_packet_fields(state, endian, block_type, data, body_len, number, offset):
    """(interface, captured length, timestamp ticks, data offset) of an Enhanced or obsolete Packet Block."""
    if body_len < 20:
        raise PcapFormatError("packet block (packet %d) at offset %d is too short" % (number, offset))
    if block_type == PCAPNG_BT_EPB:
        interface_id, high, low, caplen = struct.unpack_from(endian + "IIII", data)
    else:
        interface_id, _unused_drops, high, low, caplen = struct.unpack_from(endian + "HHIII", data)
    interface = _packet_interface(state, interface_id, number, offset)
    if caplen > body_len - 20:
        raise PcapFormatError("truncated: packet %d at offset %d declares %d bytes but its block holds only %d"
                              % (number, offset, caplen, body_len - 20))
    return interface, caplen, (high << 32) | low, 20


def _count_packet(state, summary, endian, block_type, data, length, offset):
    number = summary.packets + 1
    if block_type == PCAPNG_BT_SPB:
        interface, caplen, ticks, data_offset = _simple_packet_fields(state, endian, data, length - 12, number, offset)
    else:
        interface, caplen, ticks, data_offset = _enhanced_packet_fields(state, endian, block_type, data, length - 12, number, offset)
    summary.packets = number
    summary.bytes += caplen
    if ticks is not None:  # first/last times come from the timestamped blocks only
        state.last_packet = (interface, ticks)
        if state.first_packet is None:
            state.first_packet = state.last_packet
    if summary.flow is not None:
        end = min(data_offset + caplen, len(data) - 4)
        encapsulation = flow_layer(interface.linktype, data, summary.flow, data_offset, end)
        if encapsulation is not None:
            summary.count_flow_packet(encapsulation)


def _pcapng_result(state, summary):
    if state.first_packet is not None:
        summary.first_time = state.first_packet[0].microseconds(state.first_packet[1])
        summary.last_time = state.last_packet[0].microseconds(state.last_packet[1])
    first_interface = state.first_interface
    linktype = first_interface.linktype if first_interface is not None else None
    return _result("pcapng", state.byte_order, _time_resolution(first_interface), linktype, None, summary)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------

def summarize_pcap(path, five_tuple=None):
    """Check that ``path`` is a well-formed pcap or pcapng file and summarise it, reading it as a stream.

    ``five_tuple`` (dict with src_ip, src_port, dest_ip, dest_port, proto as in a Suricata alert)
    adds how many packets belong to that flow, in either direction, on the outer packet or inside its
    tunnels (``flow_encapsulation``: where the first one was found, see ``flow_layer``). First/last packet times are
    those of the first/last (timestamped) records in file order. Raises PcapFormatError
    for a malformed file, ValueError for a malformed ``five_tuple``, OSError if it cannot be read.
    """
    summary = _Summary(FlowFilter(five_tuple) if five_tuple is not None else None)
    with open(path, "rb", buffering=READ_BUFFER_SIZE) as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.peek(64)[:64]
        if not head:
            raise PcapFormatError("empty file")
        if len(head) < 4:
            raise PcapFormatError("not a pcap or pcapng file: only %d bytes" % len(head))
        magic = struct.unpack(">I", head[:4])[0]
        if magic in PCAP_MAGICS:
            return _summarize_classic(handle, size, magic, summary)
        if magic == PCAPNG_SHB_TYPE:
            return _summarize_pcapng(handle, size, summary)
        raise _bad_magic_error(head)
