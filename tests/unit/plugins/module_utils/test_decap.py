"""Tunnelled flows: the decoder and the pcap verifier on captures written by scapy (see captures/make_captures.py)."""

import ipaddress
import os
import random
import struct
import sys
import time

import dpkt
import pytest

from ansible_collections.stamus.scs.plugins.module_utils import _decap
from ansible_collections.stamus.scs.plugins.module_utils._decap import MAX_HEADERS, MAX_IP_LAYERS, Layer, frame_layers
from ansible_collections.stamus.scs.plugins.module_utils._pcap_verify import FlowFilter, flow_layer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # pcap_parity, under --import-mode=importlib

# Every summary below is also checked against the streaming verifier fed the file in pieces of many sizes.
from pcap_parity import summarize_pcap  # noqa: E402  pylint: disable=wrong-import-position

CAPTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "captures")

TCP4 = {"src_ip": "192.0.2.10", "src_port": 49152, "dest_ip": "198.51.100.7", "dest_port": 443, "proto": "TCP"}
UDP6 = {"src_ip": "2001:db8::1", "src_port": 5353, "dest_ip": "2001:db8::2", "dest_port": 53, "proto": "UDP"}
OTHER = {"src_ip": "192.0.2.99", "src_port": 40000, "dest_ip": "198.51.100.7", "dest_port": 443, "proto": "TCP"}
FLOWS = {"TCP4": TCP4, "UDP6": UDP6, "OTHER": OTHER}


def packed(address):
    return ipaddress.ip_address(address).packed


def packets_of(name):
    """The inner (proto, src, dst, sport, dport) of each packet of a flow, in the order make_captures.py writes them."""
    flow = FLOWS[name]
    proto = 6 if flow["proto"] == "TCP" else 17
    forward = (proto, packed(flow["src_ip"]), packed(flow["dest_ip"]), flow["src_port"], flow["dest_port"])
    reverse = (proto, forward[2], forward[1], forward[4], forward[3])
    return {"TCP4": [forward, reverse, forward, forward], "UDP6": [forward, reverse], "OTHER": [forward]}[name]


# capture -> (link type, the flows in it in file order, encapsulation of the inner packet, IP layers per frame)
EXPECTED = {
    "vxlan_aws_mirroring.pcap": (1, ["TCP4", "UDP6", "OTHER"], ["vxlan"], 2),
    "gre_plain.pcap": (1, ["TCP4", "OTHER"], ["gre"], 2),
    "gre_key_seq.pcap": (1, ["UDP6", "TCP4", "OTHER"], ["gre"], 2),
    "erspan_1.pcap": (1, ["TCP4", "OTHER"], ["gre", "erspan"], 2),
    "erspan_2.pcap": (1, ["TCP4", "UDP6", "OTHER"], ["gre", "erspan"], 2),
    "erspan_3.pcap": (1, ["TCP4", "UDP6", "OTHER"], ["gre", "erspan"], 2),
    "geneve.pcapng": (1, ["TCP4", "OTHER", "UDP6"], ["geneve"], 2),
    "ip_in_ip.pcap": (1, ["TCP4", "OTHER"], ["ip-in-ip"], 2),
    "6in4.pcap": (1, ["UDP6"], ["ip-in-ip"], 2),
    "mpls_1_label.pcap": (1, ["TCP4", "OTHER"], ["mpls"], 1),
    "mpls_2_labels.pcap": (1, ["UDP6", "TCP4"], ["mpls"], 1),
    "mpls_pseudowire.pcap": (1, ["TCP4", "OTHER"], ["mpls"], 1),
    "pppoe.pcap": (1, ["TCP4", "UDP6", "OTHER"], ["pppoe"], 1),
    "qinq.pcap": (1, ["TCP4", "UDP6", "OTHER"], [], 1),
    "sll_vxlan.pcap": (113, ["TCP4", "OTHER"], ["vxlan"], 2),
    "raw_gre.pcap": (101, ["TCP4", "OTHER"], ["gre"], 2),
}
# The outer IP layer of the first frame, where there is one: (proto, src, dst, sport, dport).
OUTER = {
    "vxlan_aws_mirroring.pcap": (17, "10.0.1.25", "10.0.2.50", 48213, 4789),
    "sll_vxlan.pcap": (17, "10.0.1.25", "10.0.2.50", 48213, 4789),
    "geneve.pcapng": (17, "10.0.3.10", "10.0.3.20", 51000, 6081),
    "gre_plain.pcap": (47, "203.0.113.1", "203.0.113.2", None, None),
    "gre_key_seq.pcap": (47, "203.0.113.1", "203.0.113.2", None, None),
    "raw_gre.pcap": (47, "203.0.113.1", "203.0.113.2", None, None),
    "erspan_1.pcap": (47, "10.255.0.1", "10.255.0.9", None, None),
    "erspan_2.pcap": (47, "10.255.0.1", "10.255.0.9", None, None),
    "erspan_3.pcap": (47, "10.255.0.1", "10.255.0.9", None, None),
    "ip_in_ip.pcap": (4, "203.0.113.1", "203.0.113.2", None, None),
    "6in4.pcap": (41, "203.0.113.1", "203.0.113.2", None, None),
}


def capture(name):
    return os.path.join(CAPTURES, name)


def read_frames(name):
    """(link type, [frame bytes]) of a capture, read with dpkt (not with the code under test)."""
    with open(capture(name), "rb") as handle:
        reader = dpkt.pcapng.Reader(handle) if name.endswith(".pcapng") else dpkt.pcap.Reader(handle)
        return reader.datalink(), [bytes(frame) for _ts, frame in reader]


def all_frames():
    return [(name, index, frame) for name in sorted(EXPECTED) + ["gre_other_flow.pcap", "gre_depth_bomb.pcap"]
            for index, frame in enumerate(read_frames(name)[1])]


def write_frames(path, frames, linktype=1):
    with open(str(path), "wb") as handle:
        writer = dpkt.pcap.Writer(handle, snaplen=65535, linktype=linktype)
        for index, frame in enumerate(frames):
            writer.writepkt(frame, ts=1777716000 + index)
    return str(path)


# --- every capture, through the verifier ------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_flow_of_each_capture_is_found_under_its_encapsulation(name):
    linktype, flows, encapsulation, _layers = EXPECTED[name]
    for flow in FLOWS:
        summary = summarize_pcap(capture(name), FLOWS[flow])
        count = len(packets_of(flow)) if flow in flows else 0
        assert (summary["linktype"], summary["packets"]) == (linktype, sum(len(packets_of(f)) for f in flows)), name
        assert (summary["flow_packets"], summary["flow_present"]) == (count, count > 0), (name, flow)
        assert summary["flow_encapsulation"] == (encapsulation if count else None), (name, flow)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_flow_that_is_not_in_the_tunnel_is_absent(name):
    for other_port in (TCP4, UDP6):
        summary = summarize_pcap(capture(name), dict(other_port, src_port=other_port["src_port"] + 1))
        assert (summary["flow_packets"], summary["flow_present"], summary["flow_encapsulation"]) == (0, False, None)


def test_gre_between_the_alert_hosts_carrying_another_flow_is_not_the_flow():
    summary = summarize_pcap(capture("gre_other_flow.pcap"), TCP4)
    assert (summary["packets"], summary["flow_packets"], summary["flow_present"]) == (1, 0, False)
    linktype, (frame,) = read_frames("gre_other_flow.pcap")
    outer, inner = frame_layers(linktype, frame)
    assert outer == ((), 47, packed("192.0.2.10"), packed("198.51.100.7"), None, None)
    assert inner == (("gre",), 6, packed("10.9.9.9"), packed("10.8.8.8"), 49152, 443)


def test_an_alert_on_the_tunnel_itself_matches_the_outer_layer():
    gre = {"src_ip": "203.0.113.2", "dest_ip": "203.0.113.1", "proto": "GRE"}
    summary = summarize_pcap(capture("gre_plain.pcap"), gre)
    assert (summary["flow_packets"], summary["flow_encapsulation"]) == (5, [])
    vxlan = {"src_ip": "10.0.1.25", "src_port": 48213, "dest_ip": "10.0.2.50", "dest_port": 4789, "proto": "UDP"}
    summary = summarize_pcap(capture("vxlan_aws_mirroring.pcap"), vxlan)
    assert (summary["flow_packets"], summary["flow_encapsulation"]) == (7, [])


# --- every capture, at the function level ---------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_frame_layers_of_each_capture(name):
    linktype, flows, encapsulation, depth = EXPECTED[name]
    read_linktype, frames = read_frames(name)
    inner = [packet for flow in flows for packet in packets_of(flow)]
    assert read_linktype == linktype and len(frames) == len(inner)
    for index, frame in enumerate(frames):
        layers = [Layer(*layer) for layer in frame_layers(linktype, frame)]
        assert len(layers) == depth, (name, index, layers)
        assert layers[-1].encapsulation == tuple(encapsulation)
        assert layers[-1][1:] == inner[index], (name, index)
        if depth > 1:
            assert layers[0].encapsulation == ()
    if name in OUTER:
        proto, src, dst, sport, dport = OUTER[name]
        assert frame_layers(linktype, frames[0])[0] == ((), proto, packed(src), packed(dst), sport, dport)


def test_flow_layer_names_the_encapsulation_of_the_first_matching_layer():
    linktype, frames = read_frames("erspan_3.pcap")
    assert flow_layer(linktype, frames[0], FlowFilter(TCP4)) == ("gre", "erspan")
    assert flow_layer(linktype, frames[0], FlowFilter({"src_ip": "10.255.0.9", "dest_ip": "10.255.0.1", "proto": 47})) == ()
    assert flow_layer(linktype, frames[0], FlowFilter(OTHER)) is None
    assert flow_layer(4242, frames[0], FlowFilter(TCP4)) is None
    assert frame_layers(4242, frames[0]) == []


def test_later_fragment_of_a_tunnel_is_not_decapsulated():
    linktype, frames = read_frames("gre_plain.pcap")
    frame = bytearray(frames[0])
    struct.pack_into("!H", frame, 14 + 6, 185)  # outer fragment offset 1480: no GRE header in this one
    assert frame_layers(linktype, bytes(frame)) == [((), 47, packed("203.0.113.1"), packed("203.0.113.2"), None, None)]


def test_vxlan_without_its_vni_flag_and_unknown_payloads_are_not_followed():
    linktype, frames = read_frames("vxlan_aws_mirroring.pcap")
    frame = bytearray(frames[0])
    frame[14 + 20 + 8] = 0  # VXLAN flags: I bit clear
    assert len(frame_layers(linktype, bytes(frame))) == 1
    linktype, frames = read_frames("mpls_1_label.pcap")
    frame = bytearray(frames[0])
    frame[14 + 4] = 0x55  # neither IPv4, IPv6 nor a control word after the bottom label
    assert frame_layers(linktype, bytes(frame)) == []


def test_mpls_explicit_null_labels_name_the_payload():
    ipv6 = bytes(dpkt.ip6.IP6(src=packed(UDP6["src_ip"]), dst=packed(UDP6["dest_ip"]), nxt=17, hlim=64, plen=12,
                              data=dpkt.udp.UDP(sport=5353, dport=53, ulen=12, data=b"dns?")))
    for label, payload in ((2, ipv6), (0, ipv6)):
        frame = b"\x04" * 6 + b"\x02" * 6 + b"\x88\x47" + struct.pack("!I", (label << 12) | 0x100 | 64) + payload
        layers = frame_layers(1, frame)
        # label 2 (IPv6 explicit null) says IPv6; label 0 says IPv4, and this is no IPv4 header
        assert layers == ([(("mpls",), 17, packed(UDP6["src_ip"]), packed(UDP6["dest_ip"]), 5353, 53)] if label == 2 else [])


def test_pppoe_with_a_one_byte_ppp_protocol_field():
    linktype, frames = read_frames("pppoe.pcap")
    frame = frames[0]  # Ethernet, PPPoE (6 bytes), PPP protocol 0x0021, IPv4
    compressed = frame[:20] + b"\x21" + frame[22:]
    assert [layer[:2] for layer in frame_layers(linktype, compressed)] == [(("pppoe",), 6)]
    other_protocol = frame[:20] + b"\xc0\x21" + frame[22:]  # LCP
    assert frame_layers(linktype, other_protocol) == []


# --- depth and malformed frames -------------------------------------------------------------------

def nested_gre(inner, levels):
    """``inner`` (an IPv4 packet) under ``levels`` IPv4/GRE layers, in an Ethernet frame."""
    packet = inner
    for level in range(levels):
        packet = dpkt.ip.IP(src=packed("203.0.113.%d" % (level + 1)), dst=packed("198.18.0.%d" % (level + 1)), p=47,
                            data=dpkt.gre.GRE(p=0x0800, data=packet))
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, data=packet))


def test_depth_is_bounded():
    inner = dpkt.ip.IP(src=packed(TCP4["src_ip"]), dst=packed(TCP4["dest_ip"]), p=6,
                       data=dpkt.tcp.TCP(sport=49152, dport=443, flags=dpkt.tcp.TH_SYN))
    deepest = nested_gre(inner, MAX_IP_LAYERS - 1)
    assert flow_layer(1, deepest, FlowFilter(TCP4)) == ("gre",) * (MAX_IP_LAYERS - 1)
    assert flow_layer(1, nested_gre(inner, MAX_IP_LAYERS), FlowFilter(TCP4)) is None


def test_depth_bomb_capture_is_bounded_and_the_flow_is_absent():
    linktype, (frame,) = read_frames("gre_depth_bomb.pcap")
    layers = frame_layers(linktype, frame)
    assert len(layers) == MAX_IP_LAYERS and all(layer[1] == 47 for layer in layers)
    summary = summarize_pcap(capture("gre_depth_bomb.pcap"), TCP4)
    assert (summary["packets"], summary["flow_packets"], summary["flow_present"]) == (1, 0, False)


class _CountingDecoders(dict):
    """_decap._DECODERS that counts the headers decoded (all but the IP headers)."""

    def __init__(self, decoders):
        super().__init__(decoders)
        self.calls = 0

    def __getitem__(self, key):
        self.calls += 1
        return super().__getitem__(key)


IPIP_HEADER = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, 4, 0, packed("203.0.113.1"), packed("203.0.113.2"))


@pytest.mark.parametrize("frame, ip_layers", [
    (b"\x04" * 12 + b"\x88\x47" + b"\x00\x01\x20\x40" * 16000, 0),  # 16,000 MPLS labels, none at the bottom
    (b"\x04" * 12 + b"\x81\x00" * 30000, 0),  # VLAN tags, each saying another VLAN tag follows
    (b"\x04" * 12 + b"\x08\x00" + IPIP_HEADER * 3000, MAX_IP_LAYERS),  # IPv4 in IPv4 in IPv4...
], ids=["mpls-labels", "vlan-tags", "ip-in-ip"])
def test_work_per_frame_is_bounded(monkeypatch, frame, ip_layers):
    counting = _CountingDecoders(_decap._DECODERS)
    monkeypatch.setattr(_decap, "_DECODERS", counting)
    started = time.monotonic()
    assert len(frame_layers(1, frame)) == ip_layers
    assert 0 < counting.calls + ip_layers <= MAX_HEADERS and time.monotonic() - started < 0.5


def test_ipv6_extension_header_chain_counts_against_the_header_budget():
    chain = b"".join(struct.pack("!BB6s", 60, 0, b"\0" * 6) for _index in range(MAX_HEADERS + 5))
    header = struct.pack("!IHBB16s16s", 0x60000000, len(chain), 60, 64, packed(UDP6["src_ip"]), packed(UDP6["dest_ip"]))
    assert frame_layers(229, header + chain + struct.pack("!HHHH", 5353, 53, 8, 0)) == []
    short_chain = chain[:8 * 3]
    frame = header + short_chain[:-8] + struct.pack("!BB6s", 17, 0, b"\0" * 6) + struct.pack("!HHHH", 5353, 53, 8, 0)
    assert frame_layers(229, frame) == [((), 17, packed(UDP6["src_ip"]), packed(UDP6["dest_ip"]), 5353, 53)]


def lying(name, index, offset, value):
    """Frame ``index`` of a capture with the byte at ``offset`` replaced."""
    linktype, frames = read_frames(name)
    frame = bytearray(frames[index])
    frame[offset] = value
    return linktype, bytes(frame)


@pytest.mark.parametrize("name, offset, value, layers", [
    ("geneve.pcapng", 14 + 20 + 8, 0x3F, 1),  # Geneve: 63 words of options, far past the frame
    ("geneve.pcapng", 14 + 20 + 8, 0x80, 1),  # Geneve version 2
    ("gre_plain.pcap", 14 + 20, 0xB0, 1),  # GRE: checksum, key and sequence number flags, none of them there
    ("gre_plain.pcap", 14 + 20, 0x40, 1),  # GRE source routing
    ("gre_plain.pcap", 14 + 20 + 1, 0x01, 1),  # GRE version 1 (PPTP)
    ("gre_plain.pcap", 14 + 20 + 4, 0x4F, 1),  # inner IPv4: IHL of 60 bytes
    ("gre_plain.pcap", 14, 0x46, 1),  # outer IPv4: IHL of 24 bytes, so what it calls GRE is the inner IPv4 header
    ("erspan_3.pcap", 14 + 20 + 8 + 11, 0x01, 1),  # ERSPAN III: platform subheader flag on a frame without one
    ("erspan_2.pcap", 14 + 20 + 8, 0x20, 1),  # ERSPAN II header with version 2
    ("ip_in_ip.pcap", 14 + 20, 0x65, 1),  # inner "IPv4" with version 6 and a 20-byte frame left
    ("pppoe.pcap", 14 + 7, 0x57, 0),  # PPP protocol IPv6 before an IPv4 header
], ids=["geneve-options", "geneve-version", "gre-flags", "gre-routing", "gre-v1", "inner-ihl", "outer-ihl",
        "erspan3-subheader", "erspan2-version", "ipip-version", "pppoe-protocol"])
def test_lying_headers_are_not_followed(name, offset, value, layers):
    linktype, frame = lying(name, 0, offset, value)
    result = frame_layers(linktype, frame)
    assert len(result) <= layers and all(layer[0] == () for layer in result), result
    assert flow_layer(linktype, frame, FlowFilter(TCP4)) is None


@pytest.mark.parametrize("name, index, frame", [pytest.param(*frame, id="%s-%d" % frame[:2]) for frame in all_frames()])
def test_every_truncation_of_every_capture_frame(name, index, frame):
    linktype = EXPECTED.get(name, (1,))[0]
    full = frame_layers(linktype, frame)
    for cut in range(len(frame)):
        layers = frame_layers(linktype, frame[:cut])
        assert len(layers) <= len(full), (name, index, cut)
        for got, want in zip(layers, full):
            assert got[:4] == want[:4] and got[4:] in (want[4:], (None, None)), (name, index, cut)


def test_random_corruption_never_raises_nor_reads_past_the_frame():
    rng = random.Random(12)
    frames = [(EXPECTED.get(name, (1,))[0], frame) for name, _index, frame in all_frames()]
    for _round in range(3000):
        linktype, frame = rng.choice(frames)
        data = bytearray(frame)
        for _flip in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.choice((0x00, 0xFF, 0x08, 0x45, 0x60, 0x81, rng.randrange(256)))
        cut = rng.randrange(len(data) + 1)
        padded = bytes(data[:cut]) + b"\x08" * 64  # bytes after ``end`` must never be read
        layers = frame_layers(linktype, padded, 0, cut)
        assert layers == frame_layers(linktype, bytes(data[:cut]))
        assert len(layers) <= MAX_IP_LAYERS


def test_truncated_and_lying_frames_in_a_file_are_counted_not_fatal(tmp_path):
    frames = []
    for name in ("vxlan_aws_mirroring.pcap", "geneve.pcapng", "erspan_3.pcap", "mpls_2_labels.pcap"):
        for frame in read_frames(name)[1]:
            frames += [frame[:cut] for cut in range(0, len(frame), 7)]
    path = write_frames(tmp_path / "cut.pcap", frames)
    summary = summarize_pcap(path, TCP4)
    assert summary["packets"] == len(frames) and summary["flow_present"] is True
    assert summary["flow_encapsulation"] == ["vxlan"]  # where the first packet of the flow was found, in file order
