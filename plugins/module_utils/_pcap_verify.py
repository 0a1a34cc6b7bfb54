# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Streaming pcap/pcapng verifier: checks the file structure, counts packets and looks for one flow.

One implementation serves both uses: ``PcapStream`` is fed the bytes as they arrive (a download checks each buffer
as it streams, so the file is never read back), and ``summarize_pcap`` feeds it a file. Whatever the pieces, the
result, or the error and its message, is the same as for the whole file at once.
"""

from __future__ import annotations

import datetime
import ipaddress
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
# Bytes of a packet kept for parsing headers; the rest of a longer record is skipped as it streams by, so a corrupt
# length never makes us allocate a huge buffer.
PARSE_LIMIT = 65536
# Largest non-packet pcapng block body (Section Header and Interface Description Blocks) kept in memory; options
# beyond it are ignored.
BLOCK_READ_LIMIT = 1 << 20
READ_BUFFER_SIZE = 256 * 1024  # of summarize_pcap's reads
# With a packet sink (see PcapStream), each packet is handed over whole, so it is kept whole: at most this many
# captured bytes (libpcap's own cap); a larger one is refused rather than held in memory.
SINK_PACKET_LIMIT = MAX_SNAPLEN
# Body of a pcapng packet block kept with a sink: the packet, its fixed fields and its options (comments, hashes...).
SINK_BLOCK_LIMIT = SINK_PACKET_LIMIT + BLOCK_READ_LIMIT
# Leading bytes looked at to tell the format (and, for something else, what it looks like).
SNIFF_LEN = 64

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


class _Summary:
    """Counters filled while walking the records (and the sink the packets go to, if any)."""

    __slots__ = ("packets", "bytes", "first_time", "last_time", "flow", "flow_packets", "flow_parseable",
                 "flow_encapsulation", "sink")

    def __init__(self, flow, sink=None):
        self.sink = sink
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
# Cutting a stream into units
# ---------------------------------------------------------------------------------------------

class _Units:
    """A byte stream cut into units as it arrives, whatever the size of the pieces it comes in.

    A unit (``expect``) is: ``keep`` bytes gathered, the ``skip`` bytes after them dropped, the ``tail`` bytes after
    those gathered too; then ``done(gathered)`` is called, and sets the next unit. A unit that arrives whole in one
    piece is handed over as a view of that piece (no copy); handlers must not keep it. Only a unit cut by the end of
    a piece is copied, and what is kept of a unit is capped by its reader, so memory stays flat.

    ``scan(view, pos, end, base)``, when a unit has one, may consume many whole units straight from a piece (the
    classic pcap records: a per-unit call would dominate); it sets the unit it stops in and returns where it stopped.
    A stream that ends inside a unit is reported by ``check_complete`` with that unit: ``(what, offset, declared,
    start)``, for "truncated: <what> at offset <offset> declares <declared> bytes but only <size - start> remain".
    """

    def __init__(self):
        self.position = 0  # stream offset of the next byte to consume
        self._held = bytearray()
        self._keep = self._skip = self._tail = 0
        self._done = self._scanner = None
        self._unit = None
        self._boundary = False  # the stream may end before this unit

    def expect(self, keep, done, unit, skip=0, tail=0, held=b"", boundary=False, scan=None):
        self._held = bytearray(held)
        self._keep = keep - len(held)
        self._skip, self._tail, self._done, self._unit, self._boundary, self._scanner = skip, tail, done, unit, boundary, scan

    def feed(self, data):
        view = data if isinstance(data, memoryview) else memoryview(data)
        pos, end = 0, len(view)
        base = self.position
        while True:
            if self._keep:
                if pos == end:
                    break
                available = end - pos
                if not self._held and available >= self._keep:
                    if self._scanner is not None:
                        self.position = base + pos
                        pos = self._scanner(view, pos, end, base)
                        continue
                    if not self._skip and not self._tail:
                        unit, pos, self._keep = view[pos:pos + self._keep], pos + self._keep, 0
                        self.position = base + pos
                        self._done(unit)
                        continue
                take = min(self._keep, available)
                self._held += view[pos:pos + take]
                pos += take
                self._keep -= take
            elif self._skip:
                if pos == end:
                    break
                take = min(self._skip, end - pos)
                pos += take
                self._skip -= take
            elif self._tail:
                if pos == end:
                    break
                take = min(self._tail, end - pos)
                self._held += view[pos:pos + take]
                pos += take
                self._tail -= take
            else:
                unit, self._held = self._held, bytearray()
                self.position = base + pos
                self._done(unit)
        self.position = base + end

    def check_complete(self, size):
        """Raise the truncation error of the unit in progress, if the stream (``size`` bytes) ended inside one."""
        if self._boundary and not self._held:
            return
        what, offset, declared, start = self._unit
        raise _truncated(what, offset, declared, size - start)


# ---------------------------------------------------------------------------------------------
# Classic pcap
# ---------------------------------------------------------------------------------------------

class _ClassicReader(_Units):
    """The file header, then every record: checked and counted, and (with a flow) each packet's headers parsed."""

    def __init__(self, summary, magic):
        super().__init__()
        self._summary = summary
        self.byte_order, self.resolution = PCAP_MAGICS[magic]
        self._endian = "<" if self.byte_order == "little" else ">"
        self._unpack_record = struct.Struct(self._endian + "IIII").unpack_from
        self._unpack_caplen = struct.Struct(self._endian + "8xI").unpack_from  # the hot loop needs only this field
        self.linktype = self.snaplen = None
        self._limit = MAX_SNAPLEN
        self._flow = None
        self._packets = self._bytes = 0
        self._first = self._last = None  # (seconds, fraction) of the first and last records
        self._record = None  # (ticks, caplen, original length) of the record in progress, with a sink
        self.expect(PCAP_HEADER_LEN, self._file_header, ("pcap file header", 0, PCAP_HEADER_LEN, 0))

    def _file_header(self, header):
        major, minor, _unused_zone, _unused_sigfigs, snaplen, network = struct.unpack_from(self._endian + "HHiIII", header, 4)
        if major != 2:
            raise PcapFormatError("unsupported pcap version %d.%d (expected 2.x)" % (major, minor))
        self.snaplen = snaplen
        self.linktype = network & 0x03FFFFFF  # the upper bits carry FCS information
        self._limit = max(snaplen, MAX_SNAPLEN)
        summary = self._summary
        if summary.flow is not None and self.linktype not in PARSEABLE_LINKTYPES:
            summary.flow_parseable = False
        self._flow = summary.flow if summary.flow_parseable else None
        if summary.sink is not None:
            summary.sink.section(self.byte_order)
            summary.sink.interface(self.linktype, snaplen, 1000000000 if self.resolution == "ns" else 1000000, 0)
        self._expect_record(self.position, 1)

    def _expect_record(self, offset, number):
        what = ("record header of packet %d" % number, offset, PCAP_RECORD_LEN, offset)
        if self._summary.sink is not None:
            self.expect(PCAP_RECORD_LEN, self._sink_record_header, what, boundary=True)
        else:
            self.expect(PCAP_RECORD_LEN, self._record_header, what, boundary=True, scan=self._scan)

    def _sink_record_header(self, header):
        """A record header, with a sink: its whole packet is gathered next (one record at a time, no fast scan)."""
        offset = self._unit[1]
        seconds, fraction, caplen, origlen = self._unpack_record(header)
        number = self._packets + 1
        if caplen > self._limit:
            raise PcapFormatError("packet %d at offset %d declares %d captured bytes, more than the snaplen %d"
                                  % (number, offset, caplen, self.snaplen))
        _check_sink_packet(number, offset, caplen)
        self._packets, self._bytes = number, self._bytes + caplen
        self._last = (seconds, fraction)
        if self._first is None:
            self._first = self._last
        ticks = seconds * (1000000000 if self.resolution == "ns" else 1000000) + fraction
        self._record = (ticks, caplen, origlen)
        self.expect(caplen, self._sink_record_body, ("packet %d" % number, offset, caplen, self.position))

    def _sink_record_body(self, body):
        ticks, caplen, origlen = self._record
        if self._flow is not None:
            encapsulation = flow_layer(self.linktype, body, self._flow, 0, caplen)
            if encapsulation is not None:
                self._summary.count_flow_packet(encapsulation)
        self._summary.sink.packet(0, ticks, origlen, body)
        self._expect_record(self.position, self._packets + 1)

    def _record_header(self, header):
        """A record header that arrived in pieces."""
        self._scan(header, 0, PCAP_RECORD_LEN, self._unit[1])

    def _scan(self, view, pos, end, base):
        """Check and count the records from ``view[pos]`` (stream offset ``base + pos``) on; return where it stopped.

        Deliberately one flat loop with locals: per-packet calls and attribute lookups are what make a million-packet
        file slow. A record cut by the end of the piece leaves the unit of its missing part set.
        """
        unpack_caplen = self._unpack_caplen
        limit = self._limit
        flow = self._flow
        number, total = self._packets, self._bytes
        start, last = pos, None  # where the first and the last record of this piece start
        try:
            while end - pos >= PCAP_RECORD_LEN:
                caplen, = unpack_caplen(view, pos)
                number += 1
                if caplen > limit:
                    raise PcapFormatError("packet %d at offset %d declares %d captured bytes, more than the snaplen %d"
                                          % (number, base + pos, caplen, self.snaplen))
                last = pos
                body = pos + PCAP_RECORD_LEN
                stop = body + caplen
                total += caplen
                if flow is not None:
                    keep = caplen if caplen <= PARSE_LIMIT else PARSE_LIMIT
                    if body + keep > end:
                        self._expect_body(number, base + pos, caplen, base + body, keep, caplen - keep)
                        return body
                    encapsulation = flow_layer(self.linktype, view, flow, body, body + keep)
                    if encapsulation is not None:
                        self._summary.count_flow_packet(encapsulation)
                    if stop > end:
                        self._expect_body(number, base + pos, caplen, base + body, 0, stop - body - keep)
                        return body + keep
                elif stop > end:
                    self._expect_body(number, base + pos, caplen, base + body, 0, caplen)
                    return body
                pos = stop
            self._expect_record(base + pos, number + 1)
            return pos
        finally:
            self._packets, self._bytes = number, total
            if last is not None:
                self._last = self._unpack_record(view, last)[:2]
                if self._first is None:
                    self._first = self._unpack_record(view, start)[:2]

    def _expect_body(self, number, offset, caplen, body_offset, keep, skip):
        """The rest of the packet of a record whose header has arrived: ``keep`` bytes to match against the flow, then
        ``skip`` bytes dropped."""
        self.expect(keep, self._record_body if keep else self._record_skipped,
                    ("packet %d" % number, offset, caplen, body_offset), skip=skip)

    def _record_body(self, body):
        encapsulation = flow_layer(self.linktype, body, self._flow, 0, len(body))
        if encapsulation is not None:
            self._summary.count_flow_packet(encapsulation)
        self._record_skipped(body)

    def _record_skipped(self, _unused_body):
        self._expect_record(self.position, self._packets + 1)

    def finish(self, size):
        if self.linktype is None:  # the file header never arrived whole
            raise PcapFormatError("truncated: the pcap file header needs %d bytes but the file has only %d"
                                  % (PCAP_HEADER_LEN, size))
        self.check_complete(size)
        summary = self._summary
        summary.packets, summary.bytes = self._packets, self._bytes
        if self._first is not None:
            frac_per_us = 1000 if self.resolution == "ns" else 1
            summary.first_time = self._first[0] * 1000000 + self._first[1] // frac_per_us
            summary.last_time = self._last[0] * 1000000 + self._last[1] // frac_per_us
        return _result("pcap", self.byte_order, self.resolution, self.linktype, self.snaplen, summary)


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


def _check_trailer(data, endian, length, what, offset):
    trailer = struct.unpack_from(endian + "I", data, len(data) - 4)[0]
    if trailer != length:
        raise PcapFormatError("pcapng %s at offset %d: trailing length %d does not match its length %d" % (what, offset, trailer, length))


class _PcapngState:
    """Section and interface bookkeeping while walking pcapng blocks."""

    __slots__ = ("byte_order", "first_interface", "interfaces", "first_packet", "last_packet")

    def __init__(self):
        self.byte_order = None
        self.first_interface = None
        self.interfaces = []
        self.first_packet = None  # (interface, ticks)
        self.last_packet = None


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


def _check_sink_packet(number, offset, caplen):
    if caplen > SINK_PACKET_LIMIT:
        raise PcapFormatError("packet %d at offset %d has %d captured bytes, more than the %d a copy of the capture "
                              "handles" % (number, offset, caplen, SINK_PACKET_LIMIT))


def _sink_packet(summary, endian, block_type, data, caplen, ticks, data_offset):
    """Hand a pcapng packet to the sink: its interface's index in the section, timestamp, original length, bytes."""
    if block_type == PCAPNG_BT_SPB:
        index, origlen = 0, struct.unpack_from(endian + "I", data)[0]
    else:
        index = struct.unpack_from(endian + ("I" if block_type == PCAPNG_BT_EPB else "H"), data)[0]
        origlen = struct.unpack_from(endian + "I", data, 16)[0]
    summary.sink.packet(index, ticks, origlen, data[data_offset:data_offset + caplen])


def _count_packet(state, summary, endian, block_type, data, length, offset):
    number = summary.packets + 1
    if block_type == PCAPNG_BT_SPB:
        interface, caplen, ticks, data_offset = _simple_packet_fields(state, endian, data, length - 12, number, offset)
    else:
        interface, caplen, ticks, data_offset = _enhanced_packet_fields(state, endian, block_type, data, length - 12, number, offset)
    if summary.sink is not None:
        _check_sink_packet(number, offset, caplen)
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
    if summary.sink is not None:
        _sink_packet(summary, endian, block_type, data, caplen, ticks, data_offset)


class _PcapngReader(_Units):
    """Every block: sections and interfaces followed, packets checked and counted, other blocks skipped.

    What is kept of a block is capped (PARSE_LIMIT of a packet, BLOCK_READ_LIMIT of other blocks: options beyond are
    ignored); every block's trailing length is checked.
    """

    def __init__(self, summary):
        super().__init__()
        self._summary = summary
        self._state = _PcapngState()
        self._block_header = None
        self._endian = None
        self._block = None  # (type, length, offset) of the block in progress
        self._section = None  # (byte order, endian, length, offset) of the section header in progress
        self.expect(PCAPNG_SHB_MIN_LEN, self._section_head,
                    ("pcapng section header block", 0, PCAPNG_SHB_MIN_LEN, 0))

    def _expect_block_body(self, body_len, keep, done, unit, held=b""):
        """Up to ``keep`` bytes of a ``body_len`` bytes body (the rest dropped), then its 4-byte trailing length."""
        if body_len <= keep:
            self.expect(body_len + 4, done, unit, held=held)
        else:
            self.expect(keep, done, unit, skip=body_len - keep, tail=4, held=held)

    def _expect_block(self):
        offset = self.position
        self.expect(8, self._block_head, ("pcapng block header", offset, 8, offset), boundary=True)

    def _section_head(self, head):
        """The first 28 bytes of a Section Header Block."""
        offset = self._unit[1]
        byte_order = PCAPNG_BYTE_ORDER_MAGICS.get(bytes(head[8:12]))
        if byte_order is None:
            raise PcapFormatError("pcapng section header block at offset %d has a bad byte-order magic %s"
                                  % (offset, bytes(head[8:12]).hex()))
        endian = "<" if byte_order == "little" else ">"
        length = struct.unpack_from(endian + "I", head, 4)[0]
        if length < PCAPNG_SHB_MIN_LEN or length % 4:
            raise PcapFormatError("pcapng section header block at offset %d has an invalid length %d" % (offset, length))
        self._section = (byte_order, endian, length, offset)
        # After the byte-order magic: version, section length, options (capped like other blocks), trailing length.
        self._expect_block_body(length - 16, BLOCK_READ_LIMIT, self._section_rest,
                                ("pcapng section header block", offset, length, offset), held=head[12:PCAPNG_SHB_MIN_LEN])

    def _section_rest(self, rest):
        byte_order, endian, length, offset = self._section
        major, minor = struct.unpack_from(endian + "HH", rest)
        if major != 1:
            raise PcapFormatError("unsupported pcapng version %d.%d at offset %d (expected 1.x)" % (major, minor, offset))
        _check_trailer(rest, endian, length, "section header block", offset)
        if self._state.byte_order is None:
            self._state.byte_order = byte_order
        if self._summary.sink is not None:
            self._summary.sink.section(byte_order)
        self._endian = endian
        self._block_header = struct.Struct(endian + "II").unpack_from
        self._expect_block()

    def _block_head(self, head):
        offset = self.position - 8
        block_type, length = self._block_header(head)
        if block_type == PCAPNG_SHB_TYPE:
            self._state.interfaces = []  # interface ids are local to a section
            self.expect(PCAPNG_SHB_MIN_LEN, self._section_head,
                        ("pcapng section header block", offset, PCAPNG_SHB_MIN_LEN, offset), held=head)
            return
        if length < 12 or length % 4:
            raise PcapFormatError("pcapng block of type %#x at offset %d has an invalid length %d" % (block_type, offset, length))
        self._block = (block_type, length, offset)
        if block_type in (PCAPNG_BT_EPB, PCAPNG_BT_SPB, PCAPNG_BT_PB):
            keep = PARSE_LIMIT + 32
            if self._summary.sink is not None:
                if length - 12 > SINK_BLOCK_LIMIT:
                    raise PcapFormatError("pcapng packet block at offset %d has %d bytes, more than the %d a copy of "
                                          "the capture handles" % (offset, length, SINK_BLOCK_LIMIT + 12))
                keep = SINK_BLOCK_LIMIT
        elif block_type == PCAPNG_BT_IDB:
            keep = BLOCK_READ_LIMIT
        else:
            keep = 0
        self._expect_block_body(length - 12, keep, self._block_body,
                                ("pcapng block of type %#x" % block_type, offset, length, offset))

    def _block_body(self, data):
        """What is kept of a block's body, then its trailing length."""
        block_type, length, offset = self._block
        state, summary, endian = self._state, self._summary, self._endian
        if block_type in (PCAPNG_BT_EPB, PCAPNG_BT_SPB, PCAPNG_BT_PB):
            _check_trailer(data, endian, length, "block of type %#x" % block_type, offset)
            _count_packet(state, summary, endian, block_type, data, length, offset)
        elif block_type == PCAPNG_BT_IDB:
            _check_trailer(data, endian, length, "interface description block", offset)
            interface = _parse_interface(data[:-4], endian, offset)
            state.interfaces.append(interface)
            if state.first_interface is None:
                state.first_interface = interface
            if summary.sink is not None:
                summary.sink.interface(interface.linktype, interface.snaplen, interface.ticks_per_second,
                                       interface.offset_seconds)
            if summary.flow is not None and interface.linktype not in PARSEABLE_LINKTYPES:
                summary.flow_parseable = False
        else:
            _check_trailer(data, endian, length, "block of type %#x" % block_type, offset)
        self._expect_block()

    def finish(self, size):
        self.check_complete(size)
        state, summary = self._state, self._summary
        if state.first_packet is not None:
            summary.first_time = state.first_packet[0].microseconds(state.first_packet[1])
            summary.last_time = state.last_packet[0].microseconds(state.last_packet[1])
        first_interface = state.first_interface
        linktype = first_interface.linktype if first_interface is not None else None
        return _result("pcapng", state.byte_order, _time_resolution(first_interface), linktype, None, summary)


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------

class PcapStream:
    """Check a pcap or pcapng capture fed in pieces: ``feed(data)`` with each piece in order (any size, any
    bytes-like object; none is kept after the call), then ``finish()`` for its summary (see summarize_pcap).

    A malformed capture raises PcapFormatError from the ``feed`` that shows it, a truncated one from ``finish``, with
    the message summarize_pcap gives for the same file. ``five_tuple`` is checked here (ValueError). Memory stays
    flat whatever the capture holds: at most one capped block is kept (BLOCK_READ_LIMIT).

    A ``sink`` (for copying the capture, see _pcapng_annotate.py) is told, in file order: ``section(byte_order)`` at
    the start of the file (of each pcapng section), ``interface(linktype, snaplen, ticks_per_second, offset_seconds)``
    for the classic header (of each pcapng interface), and ``packet(interface_index, ticks, original_length, data)``
    for each packet (``ticks`` in its interface's units, None for a pcapng Simple Packet Block; ``data`` the whole
    captured bytes, a view valid during the call only). With a sink a packet is kept whole, so one of more than
    SINK_PACKET_LIMIT captured bytes is refused (PcapFormatError).
    """

    def __init__(self, five_tuple=None, sink=None):
        self._summary = _Summary(FlowFilter(five_tuple) if five_tuple is not None else None, sink)
        self._head = bytearray()  # the first bytes, until they tell the format
        self._reader = None
        self.size = 0

    def feed(self, data):
        self.size += len(data)
        if self._reader is None:
            data = self._sniff(data)
            if data is None:
                return
        if len(data):
            self._reader.feed(data)

    def _sniff(self, data):
        """The rest of ``data`` once the format is known and its reader has the start, else None (keep sniffing)."""
        take = SNIFF_LEN - len(self._head)
        self._head += data[:take]
        if len(self._head) < 4:
            return None
        magic = struct.unpack_from(">I", self._head)[0]
        if magic in PCAP_MAGICS:
            reader = _ClassicReader(self._summary, magic)
        elif magic == PCAPNG_SHB_TYPE:
            reader = _PcapngReader(self._summary)
        elif len(self._head) < SNIFF_LEN:
            return None  # more of it makes a better hint of what it is
        else:
            raise _bad_magic_error(bytes(self._head))
        head, self._head, self._reader = self._head, None, reader
        reader.feed(head)
        return data[take:]

    def finish(self):
        """The summary of the capture; PcapFormatError if it is empty, not a capture, or cut short."""
        if self._reader is None:
            head = bytes(self._head)
            if not head:
                raise PcapFormatError("empty file")
            if len(head) < 4:
                raise PcapFormatError("not a pcap or pcapng file: only %d bytes" % len(head))
            raise _bad_magic_error(head)
        return self._reader.finish(self.size)


def summarize_pcap(path, five_tuple=None):
    """Check that ``path`` is a well-formed pcap or pcapng file and summarise it, reading it once as a stream.

    ``five_tuple`` (dict with src_ip, src_port, dest_ip, dest_port, proto as in a Suricata alert)
    adds how many packets belong to that flow, in either direction, on the outer packet or inside its
    tunnels (``flow_encapsulation``: where the first one was found, see ``flow_layer``). First/last packet times are
    those of the first/last (timestamped) records in file order. Raises PcapFormatError
    for a malformed file, ValueError for a malformed ``five_tuple``, OSError if it cannot be read.
    """
    stream = PcapStream(five_tuple)
    buffer = bytearray(READ_BUFFER_SIZE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while True:
            size = handle.readinto(buffer)
            if not size:
                break
            stream.feed(view[:size])
    return stream.finish()
