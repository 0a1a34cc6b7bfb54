# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Decapsulation of one captured frame: the IP 5-tuple of each of its layers, outermost first.

Suricata reports the inner 5-tuple of tunnelled traffic while the pcap holds the outer frame, so an alert's flow
may sit under VXLAN, GRE, ERSPAN, Geneve, IP-in-IP, MPLS or PPPoE. ``frame_layers`` walks one frame and lists a
``Layer`` for every IP header it reaches. Pure functions over bytes: no I/O, no state between frames.

Nothing in a frame is trusted: every read is checked against the end of the frame, lengths in headers only ever
move forward inside it, and the walk stops after ``MAX_HEADERS`` headers (VLAN tags, MPLS labels, IPv6 extension
headers, tunnel headers...) or ``MAX_IP_LAYERS`` IP headers, whatever the frame says.
"""

from __future__ import annotations

import collections
import struct

# IP headers reported per frame (the outer one and up to 7 encapsulated ones).
MAX_IP_LAYERS = 8
# Headers of any kind parsed per frame (each VLAN tag, MPLS label, IPv6 extension header... counts). Suricata stops
# decoding a packet after 16 layers by default (decoder.max-layers) and raises no alert deeper: this is a margin.
MAX_HEADERS = 32

VXLAN_PORT = 4789
GENEVE_PORT = 6081

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_TEB = 0x6558  # transparent Ethernet bridging: an Ethernet frame follows (GRE, Geneve)
ETHERTYPE_ERSPAN_2 = 0x88BE  # ERSPAN type I (GRE without sequence number) and II
ETHERTYPE_ERSPAN_3 = 0x22EB
ETHERTYPE_MPLS = frozenset((0x8847, 0x8848))
ETHERTYPE_PPPOE_SESSION = 0x8864
VLAN_ETHERTYPES = frozenset((0x8100, 0x88A8, 0x9100))

IPPROTO_IPIP = 4
IPPROTO_GRE = 47
IPPROTO_IPV6 = 41
IPPROTO_UDP = 17
IPV6_EXTENSION_HEADERS = frozenset((0, 43, 44, 51, 60))  # Hop-by-Hop, Routing, Fragment, AH, Destination Options
IPV6_FRAGMENT_HEADER = 44
IPV6_AUTH_HEADER = 51
PORT_PROTOCOLS = frozenset((6, 17, 132))
TUNNEL_PROTOCOLS = frozenset((IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_GRE, IPPROTO_UDP))

PPP_IPV4 = 0x21
PPP_IPV6 = 0x57
MPLS_LABEL_IPV4_NULL = 0
MPLS_LABEL_IPV6_NULL = 2
MPLS_MAX_RESERVED_LABEL = 16

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_PORTS = struct.Struct("!HH")

Layer = collections.namedtuple("Layer", "encapsulation proto src dst sport dport")
Layer.__doc__ = """One IP header of a frame (``frame_layers`` gives plain tuples in this order: ``Layer(*t)`` names them).

``encapsulation`` names what it was found under, outermost first (``()`` for the outer packet, ``("vxlan",)``,
``("gre", "erspan")``...); ``proto`` is the IP protocol number, ``src``/``dst`` the packed addresses and
``sport``/``dport`` the ports, None when the protocol has none or they are not in the frame (a later fragment, a
cut header)."""

# What comes next in the frame, as (kind, offset, value): the walk is a loop over these, never a recursion.
(_ETHERNET, _ETHERTYPE, _IP, _IPV4, _IPV6, _MPLS, _MPLS_LABEL, _PPPOE, _GRE, _VXLAN, _GENEVE, _ERSPAN_1, _ERSPAN_2,
 _ERSPAN_3) = range(14)


# ---------------------------------------------------------------------------------------------
# Link layers
# ---------------------------------------------------------------------------------------------

def _linux_sll(buf, off, end):
    return (_ETHERTYPE, off + 16, _U16.unpack_from(buf, off + 14)[0]) if end - off >= 16 else None


def _linux_sll2(buf, off, end):
    return (_ETHERTYPE, off + 20, _U16.unpack_from(buf, off)[0]) if end - off >= 20 else None


# Link types whose frames we can decode -> the first step of the walk.
LINKTYPE_STARTS = {
    1: lambda buf, off, end: (_ETHERNET, off, None),
    12: lambda buf, off, end: (_IP, off, None),
    14: lambda buf, off, end: (_IP, off, None),
    101: lambda buf, off, end: (_IP, off, None),
    228: lambda buf, off, end: (_IPV4, off, None),
    229: lambda buf, off, end: (_IPV6, off, None),
    113: _linux_sll,
    276: _linux_sll2,
}

_ETHERTYPE_STEPS = {ETHERTYPE_IPV4: _IPV4, ETHERTYPE_IPV6: _IPV6, ETHERTYPE_PPPOE_SESSION: _PPPOE}
_ETHERTYPE_STEPS.update((ethertype, _MPLS) for ethertype in ETHERTYPE_MPLS)


def _ethernet(buf, off, end, _value):
    return _after_ethertype(buf, off + 14, end, _U16.unpack_from(buf, off + 12)[0]) if end - off >= 14 else None


def _after_ethertype(buf, off, end, ethertype):
    """The step for a payload of type ``ethertype`` at ``off``; one VLAN tag is one step."""
    if ethertype in VLAN_ETHERTYPES:
        return (_ETHERTYPE, off + 4, _U16.unpack_from(buf, off + 2)[0]) if end - off >= 4 else None
    kind = _ETHERTYPE_STEPS.get(ethertype)
    return None if kind is None else (kind, off, None)


def _ip_by_version(buf, off, end, _value=None):
    if off >= end:
        return None
    version = buf[off] >> 4
    if version == 4:
        return (_IPV4, off, None)
    if version == 6:
        return (_IPV6, off, None)
    return None


# ---------------------------------------------------------------------------------------------
# Label stacks and sessions (not tunnels for Suricata: the alert's 5-tuple is the IP inside them)
# ---------------------------------------------------------------------------------------------

def _mpls(buf, off, end, _value):
    """One label; the bottom one says what follows (as Suricata guesses it: explicit null labels, then the
    first nibble: 4 IPv4, 6 IPv6, 0 a pseudowire control word before an Ethernet frame)."""
    if end - off < 4:
        return None
    shim = _U32.unpack_from(buf, off)[0]
    off += 4
    if not shim & 0x100:  # not the bottom of the stack
        return (_MPLS_LABEL, off, None)
    label = shim >> 12
    if label == MPLS_LABEL_IPV4_NULL:
        return (_IPV4, off, None)
    if label == MPLS_LABEL_IPV6_NULL:
        return (_IPV6, off, None)
    if label < MPLS_MAX_RESERVED_LABEL or off >= end:
        return None
    nibble = buf[off] >> 4
    if nibble == 0:
        return (_ETHERNET, off + 4, None)
    return _ip_by_version(buf, off, end)


def _pppoe(buf, off, end, _value):
    """A PPPoE session header (6 bytes) and the PPP protocol field (1 or 2 bytes, RFC 1661 section 2)."""
    if end - off < 8:
        return None
    if buf[off + 6] & 1:
        protocol, off = buf[off + 6], off + 7
    else:
        protocol, off = _U16.unpack_from(buf, off + 6)[0], off + 8
    if protocol == PPP_IPV4:
        return (_IPV4, off, None)
    if protocol == PPP_IPV6:
        return (_IPV6, off, None)
    return None


# ---------------------------------------------------------------------------------------------
# Tunnels
# ---------------------------------------------------------------------------------------------

def _gre(buf, off, end, _value):
    """GRE version 0 (RFC 2784/2890): optional checksum, key and sequence number fields, then an ethertype's payload.

    Source routing (RFC 1701, obsolete) and version 1 (PPTP) are not followed.
    """
    if end - off < 4:
        return None
    flags = buf[off]
    if flags & 0x40 or buf[off + 1] & 0x07:
        return None
    protocol = _U16.unpack_from(buf, off + 2)[0]
    size = 4 + (4 if flags & 0x80 else 0) + (4 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    off += size
    if protocol == ETHERTYPE_TEB:
        return (_ETHERNET, off, None)
    if protocol == ETHERTYPE_ERSPAN_2:
        # Type II has a sequence number and an 8-byte header; type I has neither.
        return (_ERSPAN_2 if flags & 0x10 else _ERSPAN_1, off, None)
    if protocol == ETHERTYPE_ERSPAN_3:
        return (_ERSPAN_3, off, None)
    return _after_ethertype(buf, off, end, protocol)


def _erspan_1(_buf, off, _end, _value):
    return (_ETHERNET, off, None)


def _erspan_2(buf, off, end, _value):
    if end - off < 8 or buf[off] >> 4 != 1:
        return None
    return (_ETHERNET, off + 8, None)


def _erspan_3(buf, off, end, _value):
    """12 bytes, then an 8-byte platform-specific subheader when the O flag is set; the frame type is Ethernet or IP."""
    if end - off < 12 or buf[off] >> 4 != 2:
        return None
    frame_type = (buf[off + 10] >> 2) & 0x1F
    payload = off + 12 + (8 if buf[off + 11] & 0x01 else 0)
    if frame_type == 0:
        return (_ETHERNET, payload, None)
    if frame_type == 2:
        return _ip_by_version(buf, payload, end)
    return None


def _vxlan(buf, off, end, _value):
    """8 bytes whose I flag says a VNI is present, then an Ethernet frame."""
    if end - off < 8 or not buf[off] & 0x08:
        return None
    return (_ETHERNET, off + 8, None)


def _geneve(buf, off, end, _value):
    """8 bytes plus options of a length given in 4-byte words, then an Ethernet frame or an ethertype's payload."""
    if end - off < 8 or buf[off] >> 6 != 0:
        return None
    protocol = _U16.unpack_from(buf, off + 2)[0]
    off += 8 + (buf[off] & 0x3F) * 4
    if protocol == ETHERTYPE_TEB:
        return (_ETHERNET, off, None)
    return _after_ethertype(buf, off, end, protocol)


# Steps that enter an encapsulation -> its name in Layer.encapsulation. VLAN tags are not named (they are no
# tunnel), nor the labels under the first of an MPLS stack.
_NAMES = {_MPLS: "mpls", _PPPOE: "pppoe", _GRE: "gre", _ERSPAN_1: "erspan", _ERSPAN_2: "erspan", _ERSPAN_3: "erspan",
          _VXLAN: "vxlan", _GENEVE: "geneve"}
# Every step but the IP headers (decoded in frame_layers itself) -> its decoder(buf, off, end, value) -> next step.
_DECODERS = {_ETHERNET: _ethernet, _ETHERTYPE: _after_ethertype, _IP: _ip_by_version, _MPLS: _mpls, _MPLS_LABEL: _mpls,
             _PPPOE: _pppoe, _GRE: _gre, _ERSPAN_1: _erspan_1, _ERSPAN_2: _erspan_2, _ERSPAN_3: _erspan_3,
             _VXLAN: _vxlan, _GENEVE: _geneve}


# ---------------------------------------------------------------------------------------------
# IP
# ---------------------------------------------------------------------------------------------

def _ipv6(buf, off, end, budget):
    """(proto, src, dst, L4 offset, first fragment, headers used) of an IPv6 header and its extension headers."""
    if end - off < 40 or buf[off] >> 4 != 6:
        return None
    next_header = buf[off + 6]
    pos = off + 40
    first_fragment = True
    used = 1
    while next_header in IPV6_EXTENSION_HEADERS:
        if pos + 8 > end or used >= budget:
            return None
        if next_header == IPV6_FRAGMENT_HEADER:
            first_fragment = first_fragment and _U16.unpack_from(buf, pos + 2)[0] & 0xFFF8 == 0
            length = 8
        elif next_header == IPV6_AUTH_HEADER:
            length = (buf[pos + 1] + 2) * 4
        else:
            length = (buf[pos + 1] + 1) * 8
        next_header = buf[pos]
        pos += length
        used += 1
    return next_header, buf[off + 8:off + 24], buf[off + 24:off + 40], pos, first_fragment, used


def _after_ip(proto, l4, sport, dport):
    """The step into what an IP packet carries when it is a tunnel, else None."""
    if proto == IPPROTO_GRE:
        return (_GRE, l4, None)
    if proto == IPPROTO_IPIP:
        return (_IPV4, l4, "ip-in-ip")
    if proto == IPPROTO_IPV6:
        return (_IPV6, l4, "ip-in-ip")
    if proto == IPPROTO_UDP:
        if VXLAN_PORT in (sport, dport):
            return (_VXLAN, l4 + 8, None)
        if GENEVE_PORT in (sport, dport):
            return (_GENEVE, l4 + 8, None)
    return None


# ---------------------------------------------------------------------------------------------
# The walk
# ---------------------------------------------------------------------------------------------

def frame_layers(linktype, buf, off=0, end=None):
    """The ``Layer`` of each IP header of the ``linktype`` frame ``buf[off:end]``, outermost first (at most
    ``MAX_IP_LAYERS``), as plain tuples in ``Layer`` order.

    Empty for a link type it cannot decode. Never raises on malformed bytes, never reads outside ``buf[off:end]``,
    and does a bounded amount of work whatever the frame holds. IP headers are decoded inline, and Ethernet frames
    of IPv4 go straight to their IP header: this runs once per packet of every pcap checked.
    """
    start = LINKTYPE_STARTS.get(linktype)
    if start is None:
        return []
    end = len(buf) if end is None else min(end, len(buf))
    layers = []
    try:
        if linktype == 1 and end - off >= 14 and buf[off + 12:off + 14] == b"\x08\x00":
            step = (_IPV4, off + 14, None)  # Ethernet and IPv4, most frames: straight to the IP header
        else:
            step = start(buf, off, end)
        path = ()
        headers = 0
        while step is not None and headers < MAX_HEADERS:
            kind, off, value = step
            headers += 1
            if kind == _IPV4:
                if end - off < 20 or buf[off] >> 4 != 4:
                    break
                ihl = (buf[off] & 0x0F) * 4
                if ihl < 20 or ihl > end - off:
                    break
                proto, src, dst, l4 = buf[off + 9], buf[off + 12:off + 16], buf[off + 16:off + 20], off + ihl
                first_fragment = _U16.unpack_from(buf, off + 6)[0] & 0x1FFF == 0
            elif kind == _IPV6:
                header = _ipv6(buf, off, end, MAX_HEADERS - headers + 1)
                if header is None:
                    break
                proto, src, dst, l4, first_fragment, used = header
                headers += used - 1
            else:
                if kind in _NAMES:
                    path += (_NAMES[kind],)
                step = _DECODERS[kind](buf, off, end, value)
                continue
            if value:
                path += (value,)
            sport = dport = None
            if proto in PORT_PROTOCOLS and first_fragment and end - l4 >= 4:
                sport, dport = _PORTS.unpack_from(buf, l4)
            layers.append((path, proto, src, dst, sport, dport))
            if proto not in TUNNEL_PROTOCOLS or len(layers) >= MAX_IP_LAYERS or not first_fragment:
                break
            step = _after_ip(proto, l4, sport, dport)
    except (struct.error, IndexError):  # pragma: no cover - every read above is bounds-checked first
        pass
    return layers
