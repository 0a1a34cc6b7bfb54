import builtins
import ipaddress
import itertools
import os
import struct
import sys
import tracemalloc

import dpkt
import pytest

from ansible_collections.stamus.scs.plugins.module_utils import _pcap_verify
from ansible_collections.stamus.scs.plugins.module_utils._pcap_verify import (
    PCAP_MAGICS,
    PCAPNG_SHB_TYPE,
    PcapFormatError,
    PcapStream,
    linktype_name,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # pcap_parity, under --import-mode=importlib

# Every summary below is also checked against the streaming verifier fed the file in pieces of many sizes.
from pcap_parity import summarize_pcap  # noqa: E402  pylint: disable=wrong-import-position

TS = 1777716000  # 2026-05-02T10:00:00Z
CLIENT4, SERVER4 = "192.0.2.10", "198.51.100.7"
CLIENT6, SERVER6 = "2001:db8::1", "2001:db8:0:0:0:0:0:2"
TCP_FLOW = {"src_ip": CLIENT4, "src_port": 49152, "dest_ip": SERVER4, "dest_port": 443, "proto": "TCP"}
UDP6_FLOW = {"src_ip": CLIENT6, "src_port": 5353, "dest_ip": SERVER6, "dest_port": 53, "proto": "UDP"}


# --- packet builders (dpkt) -----------------------------------------------------------------

def ip_bytes(address):
    return ipaddress.ip_address(address).packed


def ipv4(src, dst, l4, proto=None, frag_offset=0):
    proto = proto if proto is not None else {dpkt.tcp.TCP: 6, dpkt.udp.UDP: 17, dpkt.icmp.ICMP: 1}[type(l4)]
    return dpkt.ip.IP(src=ip_bytes(src), dst=ip_bytes(dst), p=proto, offset=frag_offset, data=l4)


def ipv6(src, dst, l4, proto=None):
    proto = proto if proto is not None else {dpkt.tcp.TCP: 6, dpkt.udp.UDP: 17}[type(l4)]
    return dpkt.ip6.IP6(src=ip_bytes(src), dst=ip_bytes(dst), nxt=proto, hlim=64, data=l4, plen=len(bytes(l4)))


def tcp(sport, dport):
    return dpkt.tcp.TCP(sport=sport, dport=dport, flags=dpkt.tcp.TH_SYN)


def udp(sport, dport, payload=b"dns?"):
    return dpkt.udp.UDP(sport=sport, dport=dport, data=payload, ulen=8 + len(payload))


def ether(ip_packet):
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, data=ip_packet))


def vlan_ether(ip_packet, tpids):
    """Ethernet frame with one VLAN tag per TPID in ``tpids`` (outermost first)."""
    ethertype = 0x86DD if isinstance(ip_packet, dpkt.ip6.IP6) else 0x0800
    types = list(tpids[1:]) + [ethertype]
    header = b"\x04" * 6 + b"\x02" * 6 + struct.pack("!H", tpids[0])
    tags = b"".join(struct.pack("!HH", 100 + index, next_type) for index, next_type in enumerate(types))
    return header + tags + bytes(ip_packet)


# --- file writers ---------------------------------------------------------------------------

def write_pcap(path, frames, magic=0xA1B2C3D4, endian="<", linktype=1, snaplen=65535, times=None):
    """Classic pcap written by hand so every magic / byte order combination can be produced."""
    with open(str(path), "wb") as handle:
        handle.write(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        for index, frame in enumerate(frames):
            seconds, fraction = times[index] if times else (TS + index, 0)
            handle.write(struct.pack(endian + "IIII", seconds, fraction, len(frame), len(frame)) + frame)
    return str(path)


def write_dpkt_pcap(path, frames, linktype=1, nano=False):
    with open(str(path), "wb") as handle:
        writer = dpkt.pcap.Writer(handle, snaplen=65535, linktype=linktype, nano=nano)
        for index, frame in enumerate(frames):
            writer.writepkt(frame, ts=TS + index)
    return str(path)


def write_dpkt_pcapng(path, frames, linktype=1):
    with open(str(path), "wb") as handle:
        writer = dpkt.pcapng.Writer(handle, snaplen=65535, linktype=linktype)
        for index, frame in enumerate(frames):
            writer.writepkt(frame, ts=TS + index)
    return str(path)


def simple_packet_block(frame):
    padded = frame + b"\0" * (-len(frame) % 4)
    length = 16 + len(padded)
    return struct.pack("<II", 3, length) + struct.pack("<I", len(frame)) + padded + struct.pack("<I", length)


def opaque_block(block_type, body=b"\xaa" * 8, endian="<"):
    length = 12 + len(body)
    return struct.pack(endian + "II", block_type, length) + body + struct.pack(endian + "I", length)


# --- classic pcap ---------------------------------------------------------------------------

@pytest.mark.parametrize("magic, endian, byte_order, resolution", [
    (0xA1B2C3D4, "<", "little", "us"),
    (0xA1B2C3D4, ">", "big", "us"),
    (0xA1B23C4D, "<", "little", "ns"),
    (0xA1B23C4D, ">", "big", "ns"),
])
def test_every_classic_magic_and_byte_order(tmp_path, magic, endian, byte_order, resolution):
    frames = [ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443))), ether(ipv4(SERVER4, CLIENT4, tcp(443, 49152)))]
    fraction = 123456789 if resolution == "ns" else 123456
    path = write_pcap(tmp_path / "a.pcap", frames, magic, endian, times=[(TS, fraction), (TS + 60, 999)])

    summary = summarize_pcap(path)

    assert summary == {
        "format": "pcap",
        "byte_order": byte_order,
        "time_resolution": resolution,
        "linktype": 1,
        "linktype_name": "ETHERNET",
        "snaplen": 65535,
        "packets": 2,
        "bytes": sum(len(frame) for frame in frames),
        "first_packet_time": "2026-05-02T10:00:00.123456Z",
        "last_packet_time": "2026-05-02T10:01:00.000000Z" if resolution == "ns" else "2026-05-02T10:01:00.000999Z",
        "flow_packets": None,
        "flow_present": None,
        "flow_encapsulation": None,
        "header_only": False,
    }


def test_magic_table_covers_both_resolutions_in_both_byte_orders():
    assert sorted(PCAP_MAGICS.values()) == [("big", "ns"), ("big", "us"), ("little", "ns"), ("little", "us")]


@pytest.mark.parametrize("nano, resolution", [(False, "us"), (True, "ns")])
def test_files_written_by_dpkt_pcap_writer(tmp_path, nano, resolution):
    frames = [ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443)))] * 3
    summary = summarize_pcap(write_dpkt_pcap(tmp_path / "d.pcap", frames, nano=nano), TCP_FLOW)
    assert (summary["time_resolution"], summary["packets"], summary["flow_packets"]) == (resolution, 3, 3)
    assert summary["first_packet_time"] == "2026-05-02T10:00:00.000000Z"
    assert summary["last_packet_time"] == "2026-05-02T10:00:02.000000Z"


def test_ns_timestamps_are_truncated_to_microseconds(tmp_path):
    path = write_pcap(tmp_path / "ns.pcap", [b"\0" * 20], 0xA1B23C4D, times=[(TS, 999999999)])
    assert summarize_pcap(path)["first_packet_time"] == "2026-05-02T10:00:00.999999Z"


def test_header_only_pcap(tmp_path):
    path = write_pcap(tmp_path / "empty.pcap", [])
    summary = summarize_pcap(path, TCP_FLOW)
    assert (tmp_path / "empty.pcap").stat().st_size == 24
    assert summary["packets"] == 0 and summary["bytes"] == 0
    assert summary["header_only"] is True
    assert summary["first_packet_time"] is None and summary["last_packet_time"] is None
    assert summary["flow_packets"] == 0 and summary["flow_present"] is False


def test_linktype_upper_bits_are_ignored_and_named(tmp_path):
    path = write_pcap(tmp_path / "fcs.pcap", [], linktype=0x10000000 | 113)
    summary = summarize_pcap(path)
    assert (summary["linktype"], summary["linktype_name"]) == (113, "LINUX_SLL")
    assert linktype_name(276) == "LINUX_SLL2" and linktype_name(4242) == "UNKNOWN"


# --- pcapng ---------------------------------------------------------------------------------

def test_pcapng_with_epb_spb_and_nanosecond_if_tsresol(tmp_path):
    resolution = dpkt.pcapng.PcapngOptionLE(code=dpkt.pcapng.PCAPNG_OPT_IF_TSRESOL, data=b"\x09")
    idb = dpkt.pcapng.InterfaceDescriptionBlockLE(snaplen=65535, linktype=1, opts=[resolution, dpkt.pcapng.PcapngOptionLE()])
    forward = ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443)))
    reply = ether(ipv4(SERVER4, CLIENT4, tcp(443, 49152)))
    other = ether(ipv4(CLIENT4, SERVER4, tcp(49153, 443)))
    first_ns, last_ns = TS * 10 ** 9 + 123456789, (TS + 5) * 10 ** 9 + 1000
    path = str(tmp_path / "ns.pcapng")
    with open(path, "wb") as handle:
        writer = dpkt.pcapng.Writer(handle, idb=idb)
        for frame, stamp in ((forward, first_ns), (other, first_ns + 1)):
            writer.writepkt(dpkt.pcapng.EnhancedPacketBlockLE(
                ts_high=stamp >> 32, ts_low=stamp & 0xFFFFFFFF, caplen=len(frame), pkt_len=len(frame), pkt_data=frame))
        handle.write(simple_packet_block(reply))
        handle.write(opaque_block(5))  # an Interface Statistics Block, skipped
        writer.writepkt(dpkt.pcapng.EnhancedPacketBlockLE(
            ts_high=last_ns >> 32, ts_low=last_ns & 0xFFFFFFFF, caplen=len(reply), pkt_len=len(reply), pkt_data=reply))

    summary = summarize_pcap(path, TCP_FLOW)

    assert summary == {
        "format": "pcapng",
        "byte_order": "little",
        "time_resolution": "ns",
        "linktype": 1,
        "linktype_name": "ETHERNET",
        "snaplen": None,
        "packets": 4,
        "bytes": len(forward) + len(other) + 2 * len(reply),
        "first_packet_time": "2026-05-02T10:00:00.123456Z",
        "last_packet_time": "2026-05-02T10:00:05.000001Z",
        "flow_packets": 3,
        "flow_present": True,
        "flow_encapsulation": [],
        "header_only": False,
    }


def test_pcapng_written_by_dpkt_writer_defaults_to_microseconds(tmp_path):
    frames = [ether(ipv6(CLIENT6, SERVER6, udp(5353, 53))), ether(ipv6(SERVER6, CLIENT6, udp(53, 5353)))]
    summary = summarize_pcap(write_dpkt_pcapng(tmp_path / "d.pcapng", frames), UDP6_FLOW)
    assert (summary["format"], summary["time_resolution"], summary["packets"], summary["flow_packets"]) == ("pcapng", "us", 2, 2)
    assert summary["last_packet_time"] == "2026-05-02T10:00:01.000000Z"


def test_big_endian_pcapng_with_binary_resolution_and_tsoffset(tmp_path):
    options = [
        dpkt.pcapng.PcapngOption(code=dpkt.pcapng.PCAPNG_OPT_IF_TSRESOL, data=b"\x80"),  # 2^0: whole seconds
        dpkt.pcapng.PcapngOption(code=14, data=struct.pack(">q", TS)),  # if_tsoffset
        dpkt.pcapng.PcapngOption(),
    ]
    frame = ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443)))
    blocks = [
        dpkt.pcapng.SectionHeaderBlock(),
        dpkt.pcapng.InterfaceDescriptionBlock(snaplen=0, linktype=1, opts=options),
        dpkt.pcapng.EnhancedPacketBlock(ts_high=0, ts_low=7, caplen=len(frame), pkt_len=len(frame), pkt_data=frame),
    ]
    path = tmp_path / "be.pcapng"
    path.write_bytes(b"".join(bytes(block) for block in blocks) + opaque_block(0x40000BAD, endian=">"))

    summary = summarize_pcap(str(path), TCP_FLOW)

    assert (summary["byte_order"], summary["time_resolution"], summary["packets"]) == ("big", "us", 1)
    assert summary["first_packet_time"] == "2026-05-02T10:00:07.000000Z"
    assert summary["flow_present"] is True


def test_pcapng_sections_may_change_byte_order(tmp_path):
    frame = ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443)))
    little = tmp_path / "le.pcapng"
    write_dpkt_pcapng(little, [frame])
    big = b"".join(bytes(block) for block in (
        dpkt.pcapng.SectionHeaderBlock(),
        dpkt.pcapng.InterfaceDescriptionBlock(snaplen=1500, linktype=101),
        dpkt.pcapng.EnhancedPacketBlock(caplen=len(frame) - 14, pkt_len=len(frame) - 14, pkt_data=frame[14:]),
    ))
    path = tmp_path / "two.pcapng"
    path.write_bytes(little.read_bytes() + big)

    summary = summarize_pcap(str(path), TCP_FLOW)

    assert (summary["byte_order"], summary["linktype"], summary["packets"], summary["flow_packets"]) == ("little", 1, 2, 2)


def test_header_only_pcapng(tmp_path):
    summary = summarize_pcap(write_dpkt_pcapng(tmp_path / "h.pcapng", []), TCP_FLOW)
    assert (summary["packets"], summary["header_only"], summary["first_packet_time"], summary["flow_present"]) == (0, True, None, False)
    assert summary["linktype_name"] == "ETHERNET"


def test_pcapng_packet_for_an_undeclared_interface_is_rejected(tmp_path):
    frame = ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443)))
    path = tmp_path / "noif.pcapng"
    path.write_bytes(bytes(dpkt.pcapng.SectionHeaderBlockLE()) + bytes(dpkt.pcapng.EnhancedPacketBlockLE(
        iface_id=0, caplen=len(frame), pkt_len=len(frame), pkt_data=frame)))
    with pytest.raises(PcapFormatError, match=r"packet 1 at offset 28 refers to interface 0 but its section defines 0"):
        summarize_pcap(str(path))


def test_pcapng_block_with_mismatched_trailing_length_is_rejected(tmp_path):
    path = tmp_path / "bad.pcapng"
    write_dpkt_pcapng(path, [ether(ipv4(CLIENT4, SERVER4, tcp(1, 2)))])
    data = bytearray(path.read_bytes())
    data[-4:] = struct.pack("<I", 1234)
    path.write_bytes(bytes(data))
    with pytest.raises(PcapFormatError, match=r"trailing length 1234 does not match"):
        summarize_pcap(str(path))


def test_pcapng_with_bad_byte_order_magic(tmp_path):
    path = tmp_path / "bom.pcapng"
    path.write_bytes(struct.pack("<II4sHHq", 0x0A0D0D0A, 28, b"ABCD", 1, 0, -1) + struct.pack("<I", 28))
    with pytest.raises(PcapFormatError, match=r"bad byte-order magic 41424344"):
        summarize_pcap(str(path))


# --- flow matching --------------------------------------------------------------------------

def test_ipv4_flow_matches_both_directions_and_ignores_other_flows(tmp_path):
    frames = [
        ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443))),
        ether(ipv4(SERVER4, CLIENT4, tcp(443, 49152))),
        ether(ipv4(CLIENT4, SERVER4, tcp(49152, 80))),  # other port
        ether(ipv4(CLIENT4, "203.0.113.1", tcp(49152, 443))),  # other host
        ether(ipv4(CLIENT4, SERVER4, udp(49152, 443))),  # other protocol
        ether(ipv4(SERVER4, CLIENT4, tcp(49152, 443))),  # ports not swapped with the addresses
    ]
    summary = summarize_pcap(write_pcap(tmp_path / "f.pcap", frames), TCP_FLOW)
    assert (summary["flow_packets"], summary["flow_present"]) == (2, True)


def test_flow_absent(tmp_path):
    path = write_pcap(tmp_path / "f.pcap", [ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443)))])
    summary = summarize_pcap(path, dict(TCP_FLOW, dest_port=8443))
    assert (summary["flow_packets"], summary["flow_present"]) == (0, False)


def test_ipv6_flow_with_vlan_tags_in_both_directions(tmp_path):
    frames = [
        vlan_ether(ipv6(CLIENT6, SERVER6, udp(5353, 53)), [0x8100]),
        vlan_ether(ipv6(SERVER6, CLIENT6, udp(53, 5353)), [0x88A8, 0x8100]),
        vlan_ether(ipv6(SERVER6, CLIENT6, udp(53, 5353)), [0x9100, 0x9100, 0x8100]),
        ether(ipv6(CLIENT6, SERVER6, udp(5353, 53))),
        vlan_ether(ipv6(CLIENT6, "2001:db8::99", udp(5353, 53)), [0x8100]),  # not the flow
    ]
    summary = summarize_pcap(write_pcap(tmp_path / "v6.pcap", frames, endian=">"), UDP6_FLOW)
    assert summary["flow_packets"] == 4


def test_ipv4_flow_behind_dpkt_qinq_tags(tmp_path):
    frame = dpkt.ethernet.Ethernet(
        src=b"\x02" * 6, dst=b"\x04" * 6, data=ipv4(SERVER4, CLIENT4, tcp(443, 49152)),
        vlan_tags=[dpkt.ethernet.VLANtag8021Q(id=10), dpkt.ethernet.VLANtag8021Q(id=20)])
    frame.type = dpkt.ethernet.ETH_TYPE_8021AD
    summary = summarize_pcap(write_dpkt_pcap(tmp_path / "qinq.pcap", [bytes(frame)]), TCP_FLOW)
    assert summary["flow_packets"] == 1


def test_expanded_and_compressed_ipv6_notations_are_the_same_address(tmp_path):
    path = write_pcap(tmp_path / "v6.pcap", [ether(ipv6("2001:db8::1", "2001:db8::2", udp(5353, 53)))])
    flow = dict(UDP6_FLOW, src_ip="2001:0db8:0000:0000:0000:0000:0000:0001", dest_ip="2001:DB8::2")
    assert summarize_pcap(path, flow)["flow_packets"] == 1


def test_ipv6_extension_headers_are_skipped(tmp_path):
    payload = bytes(udp(5353, 53))
    hop_by_hop = struct.pack("!BB6s", 60, 0, b"\x01\x04\0\0\0\0")
    destination = struct.pack("!BB6s", 44, 0, b"\x01\x04\0\0\0\0")
    first_fragment = struct.pack("!BBHI", 17, 0, 0x0001, 7)  # offset 0, more fragments
    later_fragment = struct.pack("!BBHI", 17, 0, 0x0008, 7)  # offset 8: no UDP header here
    frames = []
    for fragment in (first_fragment, later_fragment):
        body = hop_by_hop + destination + fragment + payload
        header = struct.pack("!IHBB16s16s", 0x60000000, len(body), 0, 64, ip_bytes(CLIENT6), ip_bytes(SERVER6))
        frames.append(b"\x04" * 6 + b"\x02" * 6 + b"\x86\xdd" + header + body)
    path = write_pcap(tmp_path / "ext.pcap", frames)
    assert summarize_pcap(path, UDP6_FLOW)["flow_packets"] == 1
    assert summarize_pcap(path, dict(UDP6_FLOW, src_port=None, dest_port=None))["flow_packets"] == 2


def test_non_first_ipv4_fragment_only_matches_without_ports(tmp_path):
    frames = [ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443))), ether(ipv4(CLIENT4, SERVER4, b"\x01\xbb\xc0\x00rest", proto=6, frag_offset=185))]
    path = write_pcap(tmp_path / "frag.pcap", frames)
    assert summarize_pcap(path, TCP_FLOW)["flow_packets"] == 1
    no_ports = {key: value for key, value in TCP_FLOW.items() if not key.endswith("port")}
    assert summarize_pcap(path, no_ports)["flow_packets"] == 2


def test_icmp_alert_without_ports_matches_on_addresses_and_protocol(tmp_path):
    frames = [
        ether(ipv4(CLIENT4, SERVER4, dpkt.icmp.ICMP(type=8, data=dpkt.icmp.ICMP.Echo(id=1, seq=1)))),
        ether(ipv4(SERVER4, CLIENT4, dpkt.icmp.ICMP(type=0, data=dpkt.icmp.ICMP.Echo(id=1, seq=1)))),
        ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443))),
    ]
    flow = {"src_ip": CLIENT4, "dest_ip": SERVER4, "proto": "ICMP"}
    assert summarize_pcap(write_pcap(tmp_path / "icmp.pcap", frames), flow)["flow_packets"] == 2
    assert summarize_pcap(write_pcap(tmp_path / "icmp.pcap", frames), dict(flow, proto=1))["flow_packets"] == 2


@pytest.mark.parametrize("linktype, make_frame", [
    (101, bytes),
    (12, bytes),
    (14, bytes),
    (228, bytes),
    (113, lambda packet: bytes(dpkt.sll.SLL(type=0, hrd=1, hlen=6, hdr=b"\x02" * 6, ethtype=0x0800, data=packet))),
    (276, lambda packet: bytes(dpkt.sll2.SLL2(ethtype=0x0800, intindex=3, hrd=1, type=4, hlen=6, hdr=b"\x02" * 6, data=packet))),
])
def test_other_parseable_linktypes(tmp_path, linktype, make_frame):
    frames = [make_frame(ipv4(CLIENT4, SERVER4, tcp(49152, 443))), make_frame(ipv4(SERVER4, CLIENT4, tcp(443, 49152)))]
    summary = summarize_pcap(write_pcap(tmp_path / "l.pcap", frames, linktype=linktype), TCP_FLOW)
    assert (summary["linktype"], summary["flow_packets"]) == (linktype, 2)


def test_raw_ipv6_linktype(tmp_path):
    frames = [bytes(ipv6(SERVER6, CLIENT6, udp(53, 5353)))]
    for linktype in (101, 229):
        assert summarize_pcap(write_pcap(tmp_path / "r6.pcap", frames, linktype=linktype), UDP6_FLOW)["flow_packets"] == 1


def test_unparseable_linktype_gives_no_flow_answer(tmp_path):
    path = write_pcap(tmp_path / "wifi.pcap", [b"\0" * 40], linktype=127)
    summary = summarize_pcap(path, TCP_FLOW)
    assert (summary["linktype_name"], summary["packets"], summary["flow_packets"], summary["flow_present"]) == ("IEEE802_11_RADIOTAP", 1, None, None)


def test_malformed_packet_bodies_never_raise(tmp_path):
    good = ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443)))
    ipv6_header = struct.pack("!IHBB16s16s", 0x60000000, 0, 0, 64, ip_bytes(CLIENT6), ip_bytes(SERVER6))
    frames = [
        b"",
        b"\x04" * 5,
        good[:14],  # Ethernet header only
        good[:14 + 19],  # IPv4 header cut short
        good[:14] + b"\x4f" + good[15:14 + 20],  # IHL says 60 bytes, only 20 there
        good[:-20],  # TCP header missing
        b"\x04" * 12 + b"\x81\x00" + b"\x00",  # VLAN tag cut short
        b"\x04" * 12 + b"\x86\xdd" + ipv6_header[:6] + b"\x00" + ipv6_header[7:] + b"\x00\xff",  # hop-by-hop off the end
        bytes(range(256)) * 4,
    ]
    summary = summarize_pcap(write_pcap(tmp_path / "junk.pcap", frames), TCP_FLOW)
    assert (summary["packets"], summary["flow_packets"]) == (len(frames), 0)
    summary = summarize_pcap(write_pcap(tmp_path / "junk_raw.pcap", frames, linktype=101), UDP6_FLOW)
    assert (summary["packets"], summary["flow_packets"]) == (len(frames), 0)


@pytest.mark.parametrize("five_tuple, message", [
    (dict(TCP_FLOW, src_ip="not-an-ip"), "src_ip"),
    (dict(TCP_FLOW, dest_ip=None), "dest_ip"),
    (dict(TCP_FLOW, proto="FOO"), "proto"),
    (dict(TCP_FLOW, proto=300), "proto"),
    (dict(TCP_FLOW, src_port=70000), "src_port"),
    (dict(TCP_FLOW, dest_port="http"), "dest_port"),
    ("tcp 1.2.3.4", "dict"),
])
def test_invalid_five_tuple_is_a_value_error_not_a_format_error(tmp_path, five_tuple, message):
    path = write_pcap(tmp_path / "ok.pcap", [])
    with pytest.raises(ValueError, match=message) as raised:
        summarize_pcap(path, five_tuple)
    assert not isinstance(raised.value, PcapFormatError)


# --- broken files ---------------------------------------------------------------------------

def test_empty_file(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(PcapFormatError, match=r"^empty file$"):
        summarize_pcap(str(tmp_path / "empty"))


def test_html_instead_of_a_capture(tmp_path):
    (tmp_path / "login.pcap").write_bytes(b"<html><head><title>Login</title></head><body>Please log in</body></html>\n")
    with pytest.raises(PcapFormatError, match=r"^not a pcap or pcapng file \(magic 3c68746d: looks like HTML\)$"):
        summarize_pcap(str(tmp_path / "login.pcap"))


def test_json_error_instead_of_a_capture(tmp_path):
    (tmp_path / "err.pcap").write_bytes(b'{"detail": "Not found."}')
    with pytest.raises(PcapFormatError, match=r"magic 7b226465: looks like JSON"):
        summarize_pcap(str(tmp_path / "err.pcap"))


def test_binary_garbage_has_no_hint(tmp_path):
    (tmp_path / "bin").write_bytes(b"\x00\x01\x02\x03" * 10)
    with pytest.raises(PcapFormatError, match=r"^not a pcap or pcapng file \(magic 00010203\)$"):
        summarize_pcap(str(tmp_path / "bin"))


def test_file_shorter_than_its_header(tmp_path):
    (tmp_path / "short.pcap").write_bytes(struct.pack("<IHH", 0xA1B2C3D4, 2, 4))
    with pytest.raises(PcapFormatError, match=r"truncated: the pcap file header needs 24 bytes but the file has only 8"):
        summarize_pcap(str(tmp_path / "short.pcap"))
    (tmp_path / "short.pcapng").write_bytes(bytes(dpkt.pcapng.SectionHeaderBlockLE())[:20])
    with pytest.raises(PcapFormatError, match=r"truncated: pcapng section header block at offset 0"):
        summarize_pcap(str(tmp_path / "short.pcapng"))
    (tmp_path / "tiny").write_bytes(b"\xd4\xc3")
    with pytest.raises(PcapFormatError, match=r"only 2 bytes"):
        summarize_pcap(str(tmp_path / "tiny"))


def test_truncated_last_record(tmp_path):
    frames = [ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443)))] * 3
    path = write_pcap(tmp_path / "cut.pcap", frames)
    full = (tmp_path / "cut.pcap").read_bytes()
    (tmp_path / "cut.pcap").write_bytes(full[:-10])
    offset = 24 + 2 * (16 + len(frames[0]))
    expected = r"^truncated: packet 3 at offset %d declares %d bytes but only %d remain$" % (offset, len(frames[0]), len(frames[0]) - 10)
    with pytest.raises(PcapFormatError, match=expected):
        summarize_pcap(path)
    with pytest.raises(PcapFormatError, match=expected):
        summarize_pcap(path, TCP_FLOW)


def test_truncated_record_header(tmp_path):
    path = write_pcap(tmp_path / "cut.pcap", [b"\0" * 40])
    with open(path, "ab") as handle:
        handle.write(b"\0" * 7)
    with pytest.raises(PcapFormatError, match=r"truncated: record header of packet 2 at offset 80 declares 16 bytes but only 7 remain"):
        summarize_pcap(path)


def test_truncated_pcapng_block(tmp_path):
    path = tmp_path / "cut.pcapng"
    write_dpkt_pcapng(path, [ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443)))])
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(PcapFormatError, match=r"truncated: pcapng block of type 0x6 at offset \d+ declares \d+ bytes"):
        summarize_pcap(str(path))


def test_record_larger_than_snaplen(tmp_path):
    path = write_pcap(tmp_path / "huge.pcap", [b"\0" * 40] * 2, snaplen=65536)
    with open(path, "ab") as handle:
        handle.write(struct.pack("<IIII", TS, 0, 300000, 300000))
    with pytest.raises(PcapFormatError, match=r"^packet 3 at offset 136 declares 300000 captured bytes, more than the snaplen 65536$"):
        summarize_pcap(path)


def test_unsupported_pcap_version(tmp_path):
    path = tmp_path / "v1.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 1, 0, 0, 0, 65535, 1))
    with pytest.raises(PcapFormatError, match=r"unsupported pcap version 1\.0"):
        summarize_pcap(str(path))


# --- streaming ------------------------------------------------------------------------------

class _ReadSpy:
    """Wraps the file object the module opens and records its reads."""

    def __init__(self, handle, stats):
        self._handle = handle
        self._stats = stats

    def readinto(self, buffer):
        size = self._handle.readinto(buffer)
        self._stats["reads"] += 1
        self._stats["bytes"] += size
        self._stats["largest"] = max(self._stats["largest"], len(buffer))
        return size

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._handle.close()


def spy_on_reads(monkeypatch):
    stats = {"reads": 0, "bytes": 0, "largest": 0}
    monkeypatch.setattr(_pcap_verify, "open", lambda *args, **kwargs: _ReadSpy(builtins.open(*args, **kwargs), stats), raising=False)
    return stats


@pytest.mark.parametrize("five_tuple", [None, TCP_FLOW])
def test_large_file_is_read_once_in_bounded_memory(tmp_path, monkeypatch, five_tuple):
    frame = ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443)))
    count = 200000
    path = tmp_path / "large.pcap"
    write_dpkt_pcap(path, [frame])
    with open(str(path), "ab") as handle:
        handle.write((struct.pack("<IIII", TS + 9, 0, len(frame), len(frame)) + frame) * (count - 1))
    file_size = path.stat().st_size
    assert file_size > 10 * 1024 * 1024

    stats = spy_on_reads(monkeypatch)
    tracemalloc.start()
    try:
        summary = _pcap_verify.summarize_pcap(str(path), five_tuple)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert summary["packets"] == count and summary["bytes"] == count * len(frame)
    assert summary["last_packet_time"] == "2026-05-02T10:00:09.000000Z"
    assert summary["flow_packets"] == (None if five_tuple is None else count)
    # one pass over the file, in pieces of the read buffer, and memory of about that buffer
    assert stats["bytes"] == file_size and stats["largest"] <= _pcap_verify.READ_BUFFER_SIZE
    assert peak < 2 * _pcap_verify.READ_BUFFER_SIZE, peak


def test_stream_of_a_large_file_in_odd_pieces(tmp_path):
    """The 200,000 records above, fed in pieces that cut records everywhere: the same summary as the file pass."""
    frame = ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443)))
    record = struct.pack("<IIII", TS + 9, 0, len(frame), len(frame)) + frame
    path = tmp_path / "large.pcap"
    write_dpkt_pcap(path, [frame])
    with open(str(path), "ab") as handle:
        handle.write(record * 199999)
    data = memoryview(path.read_bytes())
    stream = PcapStream(TCP_FLOW)
    sizes = itertools.cycle((4099, 17, 65537, 1, 1000003))
    pos = 0
    while pos < len(data):
        size = next(sizes)
        stream.feed(data[pos:pos + size])
        pos += size
    assert stream.finish() == _pcap_verify.summarize_pcap(str(path), TCP_FLOW)


def test_stream_fails_at_the_piece_that_shows_it(tmp_path):
    """A download stops as soon as what arrived is not a capture, not at its end."""
    stream = PcapStream()
    with pytest.raises(PcapFormatError, match="looks like HTML"):
        for _piece in range(1000):
            stream.feed(b"<html><body>Please log in. " * 4)
    path = write_pcap(tmp_path / "a.pcap", [b"\0" * 40] * 3, snaplen=65536)
    stream = PcapStream()
    stream.feed(open(path, "rb").read())
    with pytest.raises(PcapFormatError, match="packet 4 at offset 192 declares 300000 captured bytes"):
        stream.feed(struct.pack("<IIII", TS, 0, 300000, 300000))


def test_stream_of_nothing_and_of_a_cut_magic():
    with pytest.raises(PcapFormatError, match="^empty file$"):
        PcapStream().finish()
    stream = PcapStream()
    stream.feed(b"\xd4")
    stream.feed(b"")
    stream.feed(b"\xc3")
    with pytest.raises(PcapFormatError, match="only 2 bytes"):
        stream.finish()


def huge_section_header(path, body_bytes, sections=1):
    """A valid little-endian pcapng whose Section Header Blocks carry ``body_bytes`` of options each (a sparse hole),
    each followed by an interface and one packet of TCP_FLOW."""
    frame = ether(ipv4(CLIENT4, SERVER4, tcp(49152, 443)))
    length = 28 + body_bytes
    after = b"".join(bytes(block) for block in (
        dpkt.pcapng.InterfaceDescriptionBlockLE(snaplen=65535, linktype=1),
        dpkt.pcapng.EnhancedPacketBlockLE(caplen=len(frame), pkt_len=len(frame), pkt_data=frame)))
    with open(str(path), "wb") as handle:
        for _section in range(sections):
            handle.write(struct.pack("<IIIHHq", PCAPNG_SHB_TYPE, length, 0x1A2B3C4D, 1, 0, -1))
            handle.seek(body_bytes, 1)  # opt_endofopt, then zeros: read from a hole, no disk used
            handle.write(struct.pack("<I", length) + after)
    return str(path)


def test_huge_section_header_block_is_read_in_bounded_memory(tmp_path, monkeypatch):
    """A Section Header Block is capped like the other non-packet blocks: a 256 MiB one (twice) costs no 256 MiB."""
    path = huge_section_header(tmp_path / "huge-shb.pcapng", 256 * 1024 * 1024, sections=2)
    stats = spy_on_reads(monkeypatch)
    tracemalloc.start()
    try:
        summary = _pcap_verify.summarize_pcap(path, TCP_FLOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (summary["format"], summary["packets"], summary["flow_packets"]) == ("pcapng", 2, 2)
    assert stats["largest"] <= _pcap_verify.READ_BUFFER_SIZE and peak < 4 * _pcap_verify.BLOCK_READ_LIMIT, (stats, peak)
    assert summarize_pcap(path, TCP_FLOW) == summary  # and in other pieces


def test_huge_section_header_block_still_has_its_trailer_checked(tmp_path):
    path = huge_section_header(tmp_path / "bad-trailer.pcapng", 8 * 1024 * 1024)
    with open(path, "r+b") as handle:
        handle.seek(28 + 8 * 1024 * 1024 - 4)
        handle.write(struct.pack("<I", 12345))
    with pytest.raises(PcapFormatError, match="section header block at offset 0: trailing length 12345"):
        summarize_pcap(path)
