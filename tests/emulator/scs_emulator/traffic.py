"""Synthetic network traffic: deterministic flows built packet by packet (frames.py).

Pure code (no Django): given a random.Random, build a Flow holding real Ethernet frames (IPv4 or IPv6; TCP with
handshake, data both ways with consistent sequence and acknowledgement numbers, and FIN, or UDP queries and answers),
IP, TCP and UDP checksums set. The payloads (payloads.py) are the ones the alert's app-layer block describes.
"""

import dataclasses
import socket

from . import frames, payloads

MAX_FLOW_ID = 2 ** 51
MSS = 1448
MSS_OPTION = b"\x02\x04\x05\xb4"  # kind 2 (MSS), length 4, 1460: what a SYN and a SYN-ACK on Ethernet announce

# app_proto -> list of (signature_id, rev, signature, category, severity)
SIGNATURES = {
    "http": [
        (2029743, 2, "ET MALWARE Win32/Emotet CnC Activity (POST) M5", "A Network Trojan was detected", 1),
        (2013028, 7, "ET POLICY curl User-Agent Outbound", "Attempted Information Leak", 2),
        (2018959, 4, "ET POLICY PE EXE or DLL Windows file download HTTP", "Potential Corporate Privacy Violation", 2),
        (2024897, 3, "ET USER_AGENTS Go HTTP Client User-Agent", "Misc activity", 3),
    ],
    "tls": [
        (2028371, 2, "ET JA3 Hash - [Abuse.ch] Possible Dridex", "Unknown Traffic", 3),
        (2033966, 1, "ET INFO Observed Discord Domain in TLS SNI (discord .com)", "Misc activity", 3),
        (2035465, 1, "ET MALWARE Observed Cobalt Strike Domain in TLS SNI", "Domain Observed Used for C2 Detected", 1),
    ],
    "dns": [
        (2027863, 3, "ET INFO Observed DNS Query to .cloud TLD", "Potentially Bad Traffic", 2),
        (2030673, 2, "ET INFO DNS Query for Suspicious .top Domain", "Potentially Bad Traffic", 2),
    ],
    "ssh": [
        (2001219, 20, "ET SCAN Potential SSH Scan", "Attempted Information Leak", 2),
        (2006546, 9, "ET SCAN LibSSH Based Frequent SSH Connections Likely BruteForce Attack", "Attempted Administrator Privilege Gain", 1),
    ],
    "smb": [
        (2025649, 3, "ET EXPLOIT Possible ETERNALBLUE MS17-010 Echo Response", "Attempted Administrator Privilege Gain", 1),
    ],
}

APP_PORTS = {"http": 80, "tls": 443, "dns": 53, "ssh": 22, "smb": 445}
APP_WEIGHTS = [("http", 40), ("tls", 30), ("dns", 15), ("ssh", 10), ("smb", 5)]


@dataclasses.dataclass
class Packet:
    ts: float
    to_server: bool
    frame: bytes
    payload_len: int
    counted_len: int  # what Suricata adds to the flow's byte counter for it (GET_PKT_LEN, see the README)


@dataclasses.dataclass
class Flow:  # pylint: disable=too-many-instance-attributes
    flow_id: int
    proto: str
    app_proto: str
    src_ip: str
    src_port: int
    dest_ip: str
    dest_port: int
    packets: list
    app: dict
    trigger: int
    encapsulation: object = None  # a tunnels.Encapsulation once its frames are wrapped in a tunnel

    def eve_tunnel(self, pkt_idx):
        """The alert's ``tunnel`` object for packet ``pkt_idx`` (as Suricata writes it), or None."""
        if self.encapsulation is None:
            return None
        return self.encapsulation.eve_tunnel(self.packets[pkt_idx].to_server, ":" in self.src_ip)

    @property
    def start(self):
        return self.packets[0].ts

    @property
    def end(self):
        return self.packets[-1].ts

    def tuple5(self):
        return (self.proto, self.src_ip, self.src_port, self.dest_ip, self.dest_port)

    def counters(self, upto):
        """Flow counters (pkts/bytes each way) over packets[0..upto], the alerted packet included (Suricata updates
        the flow before it inspects the packet)."""
        out = {"pkts_toserver": 0, "pkts_toclient": 0, "bytes_toserver": 0, "bytes_toclient": 0}
        for pkt in self.packets[:upto + 1]:
            way = "toserver" if pkt.to_server else "toclient"
            out["pkts_" + way] += 1
            out["bytes_" + way] += pkt.counted_len
        return out


def _mac(rng):
    return bytes([0x02] + [rng.randrange(256) for _i in range(5)])


class _FrameBuilder:  # pylint: disable=too-many-instance-attributes
    """Builds Ethernet frames for one flow (both directions)."""

    def __init__(self, rng, flow_proto, src_ip, dst_ip, sport, dport):
        family = socket.AF_INET6 if ":" in src_ip else socket.AF_INET
        self.cli = socket.inet_pton(family, src_ip)
        self.srv = socket.inet_pton(family, dst_ip)
        self.cli_mac, self.srv_mac = _mac(rng), _mac(rng)
        self.sport, self.dport = sport, dport
        self.proto = frames.PROTO_TCP if flow_proto == "TCP" else frames.PROTO_UDP
        self.ip_id = rng.randrange(65536)

    def ends(self, to_server):
        """(source address, destination address, source port, destination port) of a packet going that way."""
        if to_server:
            return self.cli, self.srv, self.sport, self.dport
        return self.srv, self.cli, self.dport, self.sport

    def frame(self, to_server, transport):
        src, dst, _sport, _dport = self.ends(to_server)
        smac, dmac = (self.cli_mac, self.srv_mac) if to_server else (self.srv_mac, self.cli_mac)
        self.ip_id = (self.ip_id + 1) % 65536
        packet, ethertype = frames.ip(src, dst, self.proto, self.ip_id, transport)
        return frames.ethernet(smac, dmac, ethertype, packet)

    def udp(self, to_server, payload):
        return self.frame(to_server, frames.udp(*self.ends(to_server), payload))


class _TcpSession:
    """One TCP connection's sequence numbers: each side's next sequence number, acknowledged by the other side's
    next segment (in-order delivery, no loss)."""

    def __init__(self, builder, rng):
        self.b = builder
        self.seq = {True: rng.randrange(2 ** 32), False: rng.randrange(2 ** 32)}

    def seg(self, to_server, flags, payload=b""):
        ack = self.seq[not to_server] if flags & frames.ACK else 0
        options = MSS_OPTION if flags & frames.SYN else b""
        segment = frames.tcp(*self.b.ends(to_server), self.seq[to_server], ack, flags, 64240 if to_server else 65160,
                             options, payload)
        self.seq[to_server] = (self.seq[to_server] + len(payload) + (1 if flags & (frames.SYN | frames.FIN) else 0)) % 2 ** 32
        return self.b.frame(to_server, segment)


def _split(data):
    return [data[i:i + MSS] for i in range(0, len(data), MSS)] or [b""]


def _packet(ts, to_server, frame, payload):
    return Packet(ts, to_server, frame, len(payload), len(frame))


def _tcp_packets(rng, builder, app_proto, start):
    sess = _TcpSession(builder, rng)
    rtt = rng.uniform(0.001, 0.06)
    t = start
    pkts = []

    def add(to_server, flags, payload=b""):
        pkts.append(_packet(t, to_server, sess.seg(to_server, flags, payload), payload))

    ack, psh = frames.ACK, frames.PSH | frames.ACK
    add(True, frames.SYN)
    t += rtt / 2
    add(False, frames.SYN | ack)
    t += rtt / 2
    add(True, ack)
    requests_, responses, app = payloads.tcp_app(rng, app_proto)
    trigger = None
    for req, resp in zip(requests_, responses):
        for chunk in _split(req):
            t += rng.uniform(0.0001, 0.002)
            add(True, psh, chunk)
            if trigger is None:
                trigger = len(pkts) - 1
        t += rtt / 2
        add(False, ack)
        for i, chunk in enumerate(_split(resp)):
            t += rng.uniform(0.0001, 0.003)
            add(False, psh, chunk)
            if i % 2 == 1:
                t += rng.uniform(0.00002, 0.0002)
                add(True, ack)
        t += rtt / 2
        add(True, ack)
    t += rng.uniform(0.01, 2.0)
    add(True, frames.FIN | ack)
    t += rtt / 2
    add(False, frames.FIN | ack)
    t += rtt / 2
    add(True, ack)
    return pkts, app, trigger


def _udp_packets(rng, builder, start):
    messages, app = payloads.dns(rng)
    pkts = []
    t = start
    for to_server, payload in messages:
        pkts.append(_packet(t, to_server, builder.udp(to_server, payload), payload))
        t += rng.uniform(0.002, 0.05) if to_server else rng.uniform(0.0005, 0.01)
    return pkts, app, 0


def pick_app_proto(rng):
    total = sum(w for _name, w in APP_WEIGHTS)
    r = rng.uniform(0, total)
    for name, weight in APP_WEIGHTS:
        r -= weight
        if r <= 0:
            return name
    return APP_WEIGHTS[0][0]


def make_flow(rng, start, client_net, used_tuples, app_proto=None):
    """Build one flow starting at `start` (epoch seconds) from a client in `client_net` (an int 0-255)."""
    app_proto = app_proto or pick_app_proto(rng)
    proto = "UDP" if app_proto == "dns" else "TCP"
    v6 = rng.random() < 0.2
    while True:
        if v6:
            src_ip = "fd00:%x::%x" % (client_net + 1, rng.randrange(2, 250))
            dest_ip = "2001:db8:%x::%x" % (rng.randrange(1, 8), rng.randrange(1, 4000))
        else:
            src_ip = "10.%d.%d.%d" % (client_net, rng.randrange(0, 4), rng.randrange(2, 250))
            dest_ip = "%s.%d" % (rng.choice(["203.0.113", "198.51.100", "192.0.2"]), rng.randrange(1, 254))
        src_port = rng.randrange(1024, 65536)
        dest_port = APP_PORTS[app_proto]
        key = (proto, src_ip, src_port, dest_ip, dest_port)
        if key not in used_tuples:
            used_tuples.add(key)
            break
    builder = _FrameBuilder(rng, proto, src_ip, dest_ip, src_port, dest_port)
    if proto == "TCP":
        packets, app, trigger = _tcp_packets(rng, builder, app_proto, start)
    else:
        packets, app, trigger = _udp_packets(rng, builder, start)
    flow_id = rng.randrange(1, MAX_FLOW_ID)
    return Flow(flow_id, proto, app_proto, src_ip, src_port, dest_ip, dest_port, packets, app, trigger)


def pick_signature(rng, app_proto, signature_id=None, severity=None):
    sigs = SIGNATURES[app_proto]
    if signature_id is not None:
        for table in SIGNATURES.values():
            for sig in table:
                if sig[0] == int(signature_id):
                    return sig[:4] + ((severity or sig[4]),)
        return (int(signature_id), 1, "ET INFO Emulator Test Signature %d" % int(signature_id), "Misc activity", severity or 3)
    sig = rng.choice(sigs)
    if severity is not None:
        sig = sig[:4] + (int(severity),)
    return sig
