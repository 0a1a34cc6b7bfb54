"""Encapsulated traffic as a probe records it: a flow's frames wrapped in a tunnel, and the IP layers of a frame.

Pure code (no Django). What Suricata does (src/decode-*.c, src/output-json-alert.c, src/log-pcap.c):

- GRE (and ERSPAN in GRE), VXLAN (UDP 4789), Geneve (UDP 6081) and IP-in-IP are tunnels: the alert's 5-tuple is
  the inner packet's and its ``tunnel`` object holds the outer packet's src_ip, src_port, dest_ip, dest_port,
  proto (the protocol name of the outer IP packet: "UDP", "GRE", "IP-in-IP", "IPv6"), depth and pkt_src;
- MPLS, PPPoE and VLAN tags are decoded in place: the 5-tuple is the IP packet inside them, no ``tunnel`` object;
- the conditional pcap (pcap-log) holds the outer frame.

``encapsulate(rng, flow, kind)`` rewrites a traffic.Flow that way. ``layer_keys(frame)`` lists the 5-tuple of each
IP layer of a stored frame (outermost first) for the extraction; it decodes with dpkt, plus the VXLAN, Geneve and
ERSPAN headers dpkt does not know.
"""

import dataclasses
import ipaddress
import socket
import struct

import dpkt

KINDS = ("vxlan", "geneve", "gre", "erspan", "ip-in-ip", "mpls", "pppoe", "qinq")
VXLAN_PORT = 4789
GENEVE_PORT = 6081
ETHERTYPE_TEB = 0x6558
ETHERTYPE_ERSPAN_2 = 0x88BE
ETHERTYPE_ERSPAN_3 = 0x22EB
ETHERTYPE_MPLS = 0x8847
ETHERTYPE_PPPOE = 0x8864
ETHERTYPE_QINQ = 0x88A8
ETHERTYPE_VLAN = 0x8100
PORT_PROTOS = (6, 17, 132)
# Suricata's protocol names (src/util-proto-name.c) of the alerts and tunnels the emulator writes or reads.
PROTO_NUMBERS = {"TCP": 6, "UDP": 17, "ICMP": 1, "IPV6-ICMP": 58, "ICMPV6": 58, "SCTP": 132, "GRE": 47,
                 "IP-IN-IP": 4, "IPV6": 41}
MAX_LAYERS = 8
# AWS Gateway Load Balancer Geneve options (class 0x0108): endpoint id (8 bytes), attachment id (8), flow cookie (4).
GWLB_OPTION_CLASS = 0x0108


@dataclasses.dataclass(frozen=True)
class Encapsulation:
    """One flow's tunnel: ``a`` is the client-side (or mirror source) endpoint, ``b`` the other one."""

    kind: str
    a: str
    b: str
    sport: int
    ident: int  # VNI, GRE key, ERSPAN session, MPLS label or PPPoE session
    outer_macs: tuple

    @property
    def mirror(self):
        """Mirrored traffic goes from the source to the collector whatever its direction; a routed tunnel turns."""
        return self.kind in ("vxlan", "geneve", "erspan")

    def endpoints(self, to_server):
        return (self.a, self.b) if to_server or self.mirror else (self.b, self.a)

    def eve_tunnel(self, to_server, inner_v6):
        """The alert's ``tunnel`` object (Suricata's AlertJsonTunnel) for a packet going ``to_server``, or None."""
        if self.kind in ("mpls", "pppoe", "qinq"):
            return None
        src, dst = self.endpoints(to_server)
        proto, sport, dport = {
            "vxlan": ("UDP", self.sport, VXLAN_PORT),
            "geneve": ("UDP", self.sport, GENEVE_PORT),
            "gre": ("GRE", 0, 0),
            "erspan": ("GRE", 0, 0),
            "ip-in-ip": ("IPv6" if inner_v6 else "IP-in-IP", 0, 0),
        }[self.kind]
        return {"src_ip": src, "src_port": sport, "dest_ip": dst, "dest_port": dport, "proto": proto, "depth": 1,
                "pkt_src": "wire/pcap"}


def new_encapsulation(rng, kind):
    """The endpoints of a tunnel like the ones seen in the field, for ``kind`` (one of KINDS)."""
    if kind not in KINDS:
        raise ValueError("encapsulation must be one of %s" % ", ".join(KINDS))
    if kind == "vxlan":  # AWS VPC Traffic Mirroring: a source ENI sends copies to the mirror target
        a, b = "172.31.%d.%d" % (rng.randrange(0, 64), rng.randrange(4, 250)), "172.31.100.10"
    elif kind == "geneve":  # AWS Gateway Load Balancer to the appliance
        a, b = "172.31.200.%d" % rng.randrange(4, 250), "172.31.100.10"
    elif kind == "erspan":  # a switch's ERSPAN session to the collector
        a, b = "10.255.0.%d" % rng.randrange(1, 250), "10.255.1.10"
    else:  # routers at both ends of a GRE or IP-in-IP tunnel
        a, b = "198.18.%d.1" % rng.randrange(0, 256), "198.19.%d.1" % rng.randrange(0, 256)
    macs = tuple(bytes([0x02] + [rng.randrange(256) for _i in range(5)]) for _side in (0, 1))
    return Encapsulation(kind, a, b, rng.randrange(49152, 65536), rng.randrange(16, 1 << 20), macs)


def encapsulate(rng, flow, kind):
    """Wrap every frame of ``flow`` (a traffic.Flow of Ethernet frames) in a new ``kind`` tunnel, in place."""
    tunnel = new_encapsulation(rng, kind)
    for index, packet in enumerate(flow.packets):
        inner = packet.frame
        packet.frame = wrap(tunnel, inner, packet.to_server, index)
        packet.counted_len = counted_len(kind, inner, packet.frame)
    flow.encapsulation = tunnel
    return tunnel


def counted_len(kind, inner_frame, wire_frame):
    """The bytes Suricata adds to the inner flow's counters for one packet: the length of the packet its flow sees
    (GET_PKT_LEN). A tunnel's inner packet is a pseudo packet made of the tunnel's payload (PacketTunnelPktSetup):
    the mirrored Ethernet frame for VXLAN and ERSPAN, the IP packet for GRE, Geneve and IP-in-IP. MPLS, PPPoE and VLAN
    tags are decoded in place: the whole frame on the wire."""
    if kind in ("vxlan", "erspan"):
        return len(inner_frame)
    if kind in ("gre", "geneve", "ip-in-ip"):
        return len(inner_frame) - 14
    return len(wire_frame)


def _outer(tunnel, to_server, proto, payload):
    """Ethernet and IPv4 (checksums set by dpkt) from one tunnel endpoint to the other."""
    src, dst = tunnel.endpoints(to_server)
    macs = tunnel.outer_macs if to_server or tunnel.mirror else tunnel.outer_macs[::-1]
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, ttl=64, data=payload)
    return bytes(dpkt.ethernet.Ethernet(src=macs[0], dst=macs[1], type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


def _udp(tunnel, dport, payload):
    udp = dpkt.udp.UDP(sport=tunnel.sport, dport=dport, data=payload)
    udp.ulen = 8 + len(payload)
    return udp


def wrap(tunnel, frame, to_server, index):
    """``frame`` (Ethernet, then IPv4 or IPv6) as it is on the wire in ``tunnel``; ``index`` numbers sequences."""
    ethertype, ip_packet = struct.unpack("!H", frame[12:14])[0], frame[14:]
    kind = tunnel.kind
    if kind == "vxlan":
        header = struct.pack("!II", 0x08000000, tunnel.ident << 8)
        return _outer(tunnel, to_server, dpkt.ip.IP_PROTO_UDP, _udp(tunnel, VXLAN_PORT, header + frame))
    if kind == "geneve":
        options = b"".join(struct.pack("!HBB", GWLB_OPTION_CLASS, option_type, len(data) // 4) + data for option_type, data in (
            (1, struct.pack("!Q", tunnel.ident)), (2, struct.pack("!Q", tunnel.ident + 1)), (3, struct.pack("!I", index))))
        header = struct.pack("!BBHI", len(options) // 4, 0, ethertype, 0) + options
        return _outer(tunnel, to_server, dpkt.ip.IP_PROTO_UDP, _udp(tunnel, GENEVE_PORT, header + ip_packet))
    if kind == "gre":  # with a key (RFC 2890), IP inside
        return _outer(tunnel, to_server, dpkt.ip.IP_PROTO_GRE, struct.pack("!HHI", 0x2000, ethertype, tunnel.ident) + ip_packet)
    if kind == "erspan":  # type II: GRE with a sequence number, 8-byte ERSPAN header, the mirrored frame
        gre = struct.pack("!HHI", 0x1000, ETHERTYPE_ERSPAN_2, index)
        erspan = struct.pack("!HHI", 0x1000, tunnel.ident & 0x3FF, index & 0xFFFFF)
        return _outer(tunnel, to_server, dpkt.ip.IP_PROTO_GRE, gre + erspan + frame)
    if kind == "ip-in-ip":
        proto = dpkt.ip.IP_PROTO_IP6 if ethertype == dpkt.ethernet.ETH_TYPE_IP6 else dpkt.ip.IP_PROTO_IPIP
        return _outer(tunnel, to_server, proto, ip_packet)
    if kind == "mpls":  # a transport label over a VPN label; the payload is told by its first nibble
        labels = struct.pack("!II", (16001 << 12) | 64, (tunnel.ident << 12) | 0x100 | 64)
        return frame[:12] + struct.pack("!H", ETHERTYPE_MPLS) + labels + ip_packet
    if kind == "pppoe":
        ppp = struct.pack("!H", 0x0057 if ethertype == dpkt.ethernet.ETH_TYPE_IP6 else 0x0021) + ip_packet
        return frame[:12] + struct.pack("!HBBHH", ETHERTYPE_PPPOE, 0x11, 0, tunnel.ident & 0xFFFF, len(ppp)) + ppp
    # qinq: a service tag, then a customer tag
    tags = struct.pack("!HHHH", ETHERTYPE_QINQ, 100 + tunnel.ident % 3000, ETHERTYPE_VLAN, 10 + tunnel.ident % 90)
    return frame[:12] + tags + frame[12:]


# ---------------------------------------------------------------- decoding (for the extraction)

def key(proto, src, dst, sport, dport):
    """Normalized 5-tuple: (proto, (ip, port), (ip, port)), endpoints sorted; ports 0 for other protocols."""
    if proto not in PORT_PROTOS:
        sport = dport = 0
    a, b = (bytes(src), sport or 0), (bytes(dst), dport or 0)
    return (proto,) + ((a, b) if a <= b else (b, a))


def may_carry_a_tunnel(outer_key):
    """Whether a packet of this normalized 5-tuple may carry another IP packet the emulator writes."""
    proto, (_ip_a, port_a), (_ip_b, port_b) = outer_key
    return proto in (4, 41, 47) or (proto == 17 and {port_a, port_b} & {VXLAN_PORT, GENEVE_PORT} != set())


def _ip_key(ip):
    l4 = ip.data
    sport, dport = getattr(l4, "sport", 0), getattr(l4, "dport", 0)
    return key(ip.p, ip.src, ip.dst, sport, dport)


def _inner(ip):
    """What an IP packet carries when it is a tunnel: a dpkt Ethernet/IP/IP6 object, or None."""
    payload = ip.data
    if isinstance(payload, (dpkt.ip.IP, dpkt.ip6.IP6)):  # IP-in-IP, 6in4 (dpkt decodes them)
        return payload
    if isinstance(payload, dpkt.gre.GRE):
        if isinstance(payload.data, (dpkt.ip.IP, dpkt.ip6.IP6)):
            return payload.data
        data = bytes(payload.data)
        if payload.p == ETHERTYPE_TEB:
            return dpkt.ethernet.Ethernet(data)
        if payload.p == ETHERTYPE_ERSPAN_2:
            return dpkt.ethernet.Ethernet(data[8:] if payload.flags & 0x1000 else data)
        if payload.p == ETHERTYPE_ERSPAN_3:
            return dpkt.ethernet.Ethernet(data[12 + (8 if data[11] & 1 else 0):])
        return None
    if isinstance(payload, dpkt.udp.UDP):
        data = bytes(payload.data)
        if VXLAN_PORT in (payload.sport, payload.dport) and len(data) >= 8 and data[0] & 0x08:
            return dpkt.ethernet.Ethernet(data[8:])
        if GENEVE_PORT in (payload.sport, payload.dport) and len(data) >= 8:
            start, ethertype = 8 + (data[0] & 0x3F) * 4, struct.unpack("!H", data[2:4])[0]
            if ethertype == ETHERTYPE_TEB:
                return dpkt.ethernet.Ethernet(data[start:])
            return {dpkt.ethernet.ETH_TYPE_IP: dpkt.ip.IP, dpkt.ethernet.ETH_TYPE_IP6: dpkt.ip6.IP6}.get(
                ethertype, lambda _data: None)(data[start:])
    return None


def layer_keys(frame):
    """The normalized 5-tuple of each IP layer of an Ethernet frame, outermost first (MPLS, PPPoE and VLAN tags are
    looked through, as dpkt does)."""
    keys = []
    try:
        node = dpkt.ethernet.Ethernet(frame)
        while node is not None and len(keys) < MAX_LAYERS:
            while isinstance(node, (dpkt.ethernet.Ethernet, dpkt.pppoe.PPPoE, dpkt.ppp.PPP)):
                node = node.data
            if not isinstance(node, (dpkt.ip.IP, dpkt.ip6.IP6)):
                break
            keys.append(_ip_key(node))
            node = _inner(node)
    except (dpkt.UnpackError, struct.error, IndexError, ValueError):
        pass
    return keys


def eve_key(doc):
    """The normalized 5-tuple of an alert document or of its ``tunnel`` object, or None."""
    proto = doc.get("proto")
    number = PROTO_NUMBERS.get(str(proto).upper())
    if number is None:
        try:
            number = int(proto)
        except (TypeError, ValueError):
            return None
    try:
        src = ipaddress.ip_address(doc["src_ip"]).packed
        dst = ipaddress.ip_address(doc["dest_ip"]).packed
        sport, dport = int(doc.get("src_port") or 0), int(doc.get("dest_port") or 0)
    except (KeyError, TypeError, ValueError):
        return None
    return key(number, src, dst, sport, dport)
