"""Write the tunnelled captures that test_decap.py reads, with scapy: packets built by another implementation than
the collection's, so the tests do not only check the decoder against its own idea of each header.

The captures are committed and the tests need no scapy. To write them again (byte for byte the same: fixed
addresses, ports, ids and times), from the repository root, in any venv with scapy:

    pip install scapy==2.8.0
    python tests/unit/plugins/module_utils/captures/make_captures.py

Every capture holds the flows below under one encapsulation, as Suricata sees it on the wire:

- ``TCP4``: TCP 192.0.2.10:49152 <-> 198.51.100.7:443, four packets (SYN, SYN-ACK, ACK, data), both directions;
- ``UDP6``: UDP [2001:db8::1]:5353 <-> [2001:db8::2]:53, two packets (query, answer);
- ``OTHER``: TCP 192.0.2.99:40000 -> 198.51.100.7:443, one packet of another flow in the same tunnel.

Check one with tshark, for example (pseudowires need ``-d mpls.label==1000,pwethcw``: nothing on the wire says that
a control word follows the label, tshark guesses there is none):
    tshark -r vxlan_aws_mirroring.pcap -T fields -e frame.protocols -e ip.src -e ip.dst -e tcp.srcport
"""

import os
import sys

from scapy.contrib.erspan import ERSPAN_I, ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.contrib.mpls import MPLS, EoMCW
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE, CookedLinux, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.utils import PcapNgWriter, PcapWriter

HERE = os.path.dirname(os.path.abspath(__file__))
TIME = 1777716000  # 2026-05-02T10:00:00Z
CLIENT_MAC, SERVER_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:07"
OUTER_A_MAC, OUTER_B_MAC = "02:00:00:00:0f:01", "02:00:00:00:0f:02"
TLS_RECORD = b"\x17\x03\x03\x00\x20" + bytes(range(32))  # a TLS 1.2 application data record
QUESTION = DNSQR(qname="example.com", qtype="AAAA")


# --- the inner flows --------------------------------------------------------------------------

def tcp4():
    """(to_server, IPv4 packet) of TCP4."""
    client, server = dict(src="192.0.2.10", dst="198.51.100.7", id=1), dict(src="198.51.100.7", dst="192.0.2.10", id=2)
    return [
        (True, IP(**client) / TCP(sport=49152, dport=443, flags="S", seq=1000)),
        (False, IP(**server) / TCP(sport=443, dport=49152, flags="SA", seq=5000, ack=1001)),
        (True, IP(**client) / TCP(sport=49152, dport=443, flags="A", seq=1001, ack=5001)),
        (True, IP(**client) / TCP(sport=49152, dport=443, flags="PA", seq=1001, ack=5001) / TLS_RECORD),
    ]


def udp6():
    """(to_server, IPv6 packet) of UDP6."""
    return [
        (True, IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5353, dport=53) / DNS(id=0x1234, rd=1, qd=QUESTION)),
        (False, IPv6(src="2001:db8::2", dst="2001:db8::1") / UDP(sport=53, dport=5353)
         / DNS(id=0x1234, qr=1, rd=1, ra=1, qd=QUESTION, an=DNSRR(rrname="example.com", type="AAAA", rdata="2001:db8::80"))),
    ]


def other():
    return [(True, IP(src="192.0.2.99", dst="198.51.100.7", id=3) / TCP(sport=40000, dport=443, flags="S"))]


def inner_ether(to_server, packet):
    src, dst = (CLIENT_MAC, SERVER_MAC) if to_server else (SERVER_MAC, CLIENT_MAC)
    return Ether(src=src, dst=dst) / packet


def outer_ip(to_server, a, b, **fields):
    """Ethernet + IPv4 between tunnel endpoints a and b (b to a for the server's packets, as a routed tunnel)."""
    src, dst = (a, b) if to_server else (b, a)
    macs = (OUTER_A_MAC, OUTER_B_MAC) if to_server else (OUTER_B_MAC, OUTER_A_MAC)
    return Ether(src=macs[0], dst=macs[1]) / IP(src=src, dst=dst, **fields)


def mirror_ip(a, b, **fields):
    """Ethernet + IPv4 from a mirror source a to its collector b: the same way for both directions of the flow."""
    return Ether(src=OUTER_A_MAC, dst=OUTER_B_MAC) / IP(src=a, dst=b, **fields)


# --- one capture per encapsulation ----------------------------------------------------------------

def vxlan_aws_mirroring():
    """AWS VPC Traffic Mirroring: the source ENI (10.0.1.25) sends a copy of every packet, both ways, to the target
    (10.0.2.50) in VXLAN on UDP 4789, VNI of the mirror session, the original Ethernet frame inside."""
    return [mirror_ip("10.0.1.25", "10.0.2.50", ttl=255) / UDP(sport=48213, dport=4789) / VXLAN(vni=2342421, flags=0x08)
            / inner_ether(way, packet) for way, packet in tcp4() + udp6() + other()]


def gre_plain():
    """GRE (RFC 2784, no optional field) between two routers, IPv4 inside."""
    return [outer_ip(way, "203.0.113.1", "203.0.113.2") / GRE(proto=0x0800) / packet for way, packet in tcp4() + other()]


def gre_key_seq():
    """GRE with checksum, key and sequence number (RFC 2890): IPv6 inside, and Ethernet inside (0x6558)."""
    frames = [outer_ip(way, "203.0.113.1", "203.0.113.2") / GRE(chksum_present=1, key_present=1, seqnum_present=1,
                                                                key=42, sequence_number=index, proto=0x86DD) / packet
              for index, (way, packet) in enumerate(udp6())]
    frames += [outer_ip(way, "203.0.113.1", "203.0.113.2") / GRE(key_present=1, seqnum_present=1, key=43,
                                                                 sequence_number=index, proto=0x6558) / inner_ether(way, packet)
               for index, (way, packet) in enumerate(tcp4() + other())]
    return frames


def erspan_1():
    """ERSPAN type I: GRE 0x88BE without sequence number, the mirrored Ethernet frame right after GRE."""
    return [mirror_ip("10.255.0.1", "10.255.0.9") / GRE(proto=0x88BE) / ERSPAN_I() / inner_ether(way, packet)
            for way, packet in tcp4() + other()]


def erspan_2():
    """ERSPAN type II (Cisco/Arista port mirroring over GRE): GRE 0x88BE with a sequence number, 8-byte header."""
    return [mirror_ip("10.255.0.1", "10.255.0.9") / GRE(seqnum_present=1, sequence_number=index, proto=0x88BE)
            / ERSPAN_II(session_id=7, vlan=100, index=index) / inner_ether(way, packet)
            for index, (way, packet) in enumerate(tcp4() + udp6() + other())]


def erspan_3():
    """ERSPAN type III: GRE 0x22EB, 12-byte header, the 8-byte platform-specific subheader on every other packet."""
    frames = []
    for index, (way, packet) in enumerate(tcp4() + udp6() + other()):
        header = ERSPAN_III(session_id=9, vlan=200, timestamp=1000 + index, o=index % 2)
        if index % 2:
            header = header / ERSPAN_PlatformSpecific(platf_id=3, info1=1, info2=2)
        frames.append(mirror_ip("10.255.0.1", "10.255.0.9") / GRE(seqnum_present=1, sequence_number=index, proto=0x22EB)
                      / header / inner_ether(way, packet))
    return frames


def geneve():
    """Geneve on UDP 6081 as the AWS Gateway Load Balancer sends it to an appliance: options of class 0x0108 (GWLB
    endpoint id, attachment id, flow cookie), IPv4 inside (0x0800); the IPv6 flow inside Ethernet (0x6558)."""
    options = [GeneveOptions(classid=0x0108, type=1, data=b"\x00\x00\x00\x00\x0a\x0b\x0c\x0d"),
               GeneveOptions(classid=0x0108, type=2, data=b"\x00\x00\x00\x00\x00\x00\x00\x2a"),
               GeneveOptions(classid=0x0108, type=3, data=b"\x5e\xed\xc0\x0c")]
    frames = [mirror_ip("10.0.3.10", "10.0.3.20") / UDP(sport=51000, dport=6081) / GENEVE(vni=0, proto=0x0800, options=options)
              / packet for way, packet in tcp4() + other()]
    frames += [mirror_ip("10.0.3.10", "10.0.3.20") / UDP(sport=51001, dport=6081) / GENEVE(vni=77, proto=0x6558)
               / inner_ether(way, packet) for way, packet in udp6()]
    return frames


def ip_in_ip():
    """IPv4 in IPv4 (protocol 4)."""
    return [outer_ip(way, "203.0.113.1", "203.0.113.2", proto=4) / packet for way, packet in tcp4() + other()]


def six_in_four():
    """IPv6 in IPv4 (protocol 41, 6in4 / 6to4 / ISATAP)."""
    return [outer_ip(way, "203.0.113.1", "203.0.113.2", proto=41) / packet for way, packet in udp6()]


def mpls_1_label():
    return [inner_ether(way, MPLS(label=100, s=1, ttl=64) / packet) for way, packet in tcp4() + other()]


def mpls_2_labels():
    """A VPN label under a transport label, IPv6 inside (no explicit-null label: the payload is told by its version)."""
    return [inner_ether(way, MPLS(label=16001, s=0, ttl=64) / MPLS(label=300, s=1, ttl=64) / packet)
            for way, packet in udp6() + tcp4()]


def mpls_pseudowire():
    """Ethernet over MPLS (a pseudowire) with its 4-byte control word."""
    return [inner_ether(True, MPLS(label=1000, s=1, ttl=64) / EoMCW(seq=index) / inner_ether(way, packet))
            for index, (way, packet) in enumerate(tcp4() + other())]


def pppoe():
    """PPPoE session (ethertype 0x8864), PPP protocol 0x0021 (IPv4) and 0x0057 (IPv6)."""
    frames = []
    for way, packet in tcp4() + udp6() + other():
        protocol = 0x0057 if packet.haslayer(IPv6) else 0x0021
        frames.append(inner_ether(way, PPPoE(sessionid=0x0011) / PPP(proto=protocol) / packet))
    return frames


def qinq():
    """802.1ad service tag, then an 802.1Q customer tag."""
    return [Ether(src=CLIENT_MAC, dst=SERVER_MAC) / Dot1AD(vlan=10) / Dot1Q(vlan=20) / packet
            for way, packet in tcp4() + udp6() + other()]


def sll_vxlan():
    """Linux cooked capture (tcpdump -i any): VXLAN to UDP 4789, Ethernet then IPv4 inside."""
    return [CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02\x00\x00\x00\x0f\x01", proto=0x0800)
            / IP(src="10.0.1.25", dst="10.0.2.50") / UDP(sport=48213, dport=4789) / VXLAN(vni=5, flags=0x08)
            / inner_ether(way, packet) for way, packet in tcp4() + other()]


def raw_gre():
    """Raw IP link type (101, no link-layer header): GRE, then IPv4."""
    return [IP(src="203.0.113.1", dst="203.0.113.2") / GRE(proto=0x0800) / packet for way, packet in tcp4() + other()]


def gre_other_flow():
    """GRE between the very hosts of TCP4, carrying only another flow: TCP4 is not in this capture."""
    return [outer_ip(True, "192.0.2.10", "198.51.100.7") / GRE(proto=0x0800)
            / IP(src="10.9.9.9", dst="10.8.8.8") / TCP(sport=49152, dport=443, flags="S")]


def gre_depth_bomb():
    """TCP4's first packet under 50 nested IPv4/GRE layers."""
    packet = tcp4()[0][1]
    for level in range(50):
        packet = IP(src="203.0.113.%d" % (level + 1), dst="203.0.113.%d" % (level + 101)) / GRE(proto=0x0800) / packet
    return [Ether(src=OUTER_A_MAC, dst=OUTER_B_MAC) / packet]


# file name -> its packets (a .pcapng name is written as pcapng, the others as classic pcap)
CAPTURES = {
    "vxlan_aws_mirroring.pcap": vxlan_aws_mirroring,
    "gre_plain.pcap": gre_plain,
    "gre_key_seq.pcap": gre_key_seq,
    "erspan_1.pcap": erspan_1,
    "erspan_2.pcap": erspan_2,
    "erspan_3.pcap": erspan_3,
    "geneve.pcapng": geneve,
    "ip_in_ip.pcap": ip_in_ip,
    "6in4.pcap": six_in_four,
    "mpls_1_label.pcap": mpls_1_label,
    "mpls_2_labels.pcap": mpls_2_labels,
    "mpls_pseudowire.pcap": mpls_pseudowire,
    "pppoe.pcap": pppoe,
    "qinq.pcap": qinq,
    "sll_vxlan.pcap": sll_vxlan,
    "raw_gre.pcap": raw_gre,
    "gre_other_flow.pcap": gre_other_flow,
    "gre_depth_bomb.pcap": gre_depth_bomb,
}


# Link types of the classic pcaps that are not Ethernet.
LINKTYPES = {"raw_gre.pcap": 101, "sll_vxlan.pcap": 113}


def write(name, packets):
    path = os.path.join(HERE, name)
    if name.endswith(".pcapng"):
        writer = PcapNgWriter(path)
        for index, packet in enumerate(packets):
            packet.time = TIME + index
            writer.write(packet)
    else:
        writer = PcapWriter(path, sync=True, linktype=LINKTYPES.get(name, 1))
        writer.write_header(None)
        for index, packet in enumerate(packets):
            writer.write_packet(bytes(packet), sec=TIME + index, usec=0)
    writer.close()
    return path


def main():
    for name, build in CAPTURES.items():
        path = write(name, build())
        sys.stdout.write("%s: %d bytes\n" % (os.path.relpath(path), os.path.getsize(path)))


if __name__ == "__main__":
    main()
