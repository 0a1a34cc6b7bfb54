"""Synthetic network traffic: deterministic flows built packet by packet with dpkt.

Pure code (no Django): given a random.Random, build a Flow holding real Ethernet frames
(IPv4 or IPv6; TCP with handshake, data both ways and FIN, or UDP request/response).
"""

import dataclasses
import socket
import string

import dpkt

MAX_FLOW_ID = 2 ** 51
MSS = 1448

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
DOMAINS = ["update.example.com", "cdn.example.net", "evil-c2.example.top", "files.example.cloud",
           "api.example.org", "discord.com", "login.example.com", "static.example.net"]
USER_AGENTS = ["curl/8.5.0", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "Go-http-client/1.1", "python-requests/2.31.0"]


@dataclasses.dataclass
class Packet:
    ts: float
    to_server: bool
    frame: bytes
    payload_len: int


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
        """Flow counters (pkts/bytes each way) over packets[0..upto]."""
        out = {"pkts_toserver": 0, "pkts_toclient": 0, "bytes_toserver": 0, "bytes_toclient": 0}
        for pkt in self.packets[:upto + 1]:
            way = "toserver" if pkt.to_server else "toclient"
            out["pkts_" + way] += 1
            out["bytes_" + way] += len(pkt.frame)
        return out


def _mac(rng):
    return bytes([0x02] + [rng.randrange(256) for _i in range(5)])


def _printable(rng, size):
    alphabet = string.ascii_letters + string.digits + " \n"
    return "".join(rng.choice(alphabet) for _i in range(size)).encode()


class _FrameBuilder:  # pylint: disable=too-many-instance-attributes
    """Builds Ethernet frames for one flow (both directions)."""

    def __init__(self, rng, flow_proto, src_ip, dst_ip, sport, dport):
        self.v6 = ":" in src_ip
        family = socket.AF_INET6 if self.v6 else socket.AF_INET
        self.cli = socket.inet_pton(family, src_ip)
        self.srv = socket.inet_pton(family, dst_ip)
        self.cli_mac, self.srv_mac = _mac(rng), _mac(rng)
        self.sport, self.dport = sport, dport
        self.proto = flow_proto
        self.ip_id = rng.randrange(65536)

    def frame(self, to_server, l4):
        src, dst = (self.cli, self.srv) if to_server else (self.srv, self.cli)
        smac, dmac = (self.cli_mac, self.srv_mac) if to_server else (self.srv_mac, self.cli_mac)
        nxt = dpkt.ip.IP_PROTO_TCP if self.proto == "TCP" else dpkt.ip.IP_PROTO_UDP
        if self.v6:
            ip = dpkt.ip6.IP6(src=src, dst=dst, nxt=nxt, hlim=64, data=l4)
            ip.plen = len(bytes(l4))
            etype = dpkt.ethernet.ETH_TYPE_IP6
        else:
            self.ip_id = (self.ip_id + 1) % 65536
            ip = dpkt.ip.IP(src=src, dst=dst, p=nxt, ttl=64, id=self.ip_id, df=1, data=l4)
            etype = dpkt.ethernet.ETH_TYPE_IP
        return bytes(dpkt.ethernet.Ethernet(src=smac, dst=dmac, type=etype, data=ip))

    def udp(self, to_server, payload):
        sport, dport = (self.sport, self.dport) if to_server else (self.dport, self.sport)
        udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
        udp.ulen = 8 + len(payload)
        return self.frame(to_server, udp)


class _TcpSession:
    def __init__(self, builder, rng):
        self.b = builder
        self.seq = {True: rng.randrange(2 ** 32), False: rng.randrange(2 ** 32)}

    def seg(self, to_server, flags, payload=b""):
        sport, dport = (self.b.sport, self.b.dport) if to_server else (self.b.dport, self.b.sport)
        ack = self.seq[not to_server] if flags & dpkt.tcp.TH_ACK else 0
        tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=self.seq[to_server], ack=ack, flags=flags,
                           win=64240 if to_server else 65160, data=payload)
        self.seq[to_server] = (self.seq[to_server] + len(payload) + (1 if flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN) else 0)) % 2 ** 32
        return self.b.frame(to_server, tcp)


def _app_payloads(rng, app_proto):
    """(requests, responses, app metadata): payload lists for client and server."""
    domain = rng.choice(DOMAINS)
    if app_proto == "http":
        method = rng.choice(["GET", "GET", "POST"])
        url = "/%s/%s" % (rng.choice(["api", "download", "gate", "static"]), rng.choice(["index.php", "update.bin", "a.js", "data"]))
        agent = rng.choice(USER_AGENTS)
        body_len = rng.randrange(200, 9000)
        req = ("%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n\r\n" % (method, url, domain, agent)).encode()
        head = ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % body_len).encode()
        app = {"http": {"hostname": domain, "url": url, "http_user_agent": agent, "http_method": method,
                        "protocol": "HTTP/1.1", "status": 200, "length": body_len}}
        return [req], [head + _printable(rng, body_len)], app
    if app_proto == "tls":
        hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(rng.randrange(256) for _i in range(rng.randrange(200, 500)))
        shello = b"\x16\x03\x03\x00\x7a\x02" + bytes(rng.randrange(256) for _i in range(rng.randrange(1500, 4000)))
        app_data = b"\x17\x03\x03" + bytes(rng.randrange(256) for _i in range(rng.randrange(100, 3000)))
        app = {"tls": {"sni": domain, "version": "TLS 1.3", "ja3": {"hash": "%032x" % rng.randrange(2 ** 128)}}}
        return [hello, app_data], [shello, app_data[::-1]], app
    if app_proto == "ssh":
        banner = b"SSH-2.0-libssh_0.9.6\r\n"
        kex = bytes(rng.randrange(256) for _i in range(rng.randrange(300, 1500)))
        app = {"ssh": {"client": {"proto_version": "2.0", "software_version": "libssh_0.9.6"},
                       "server": {"proto_version": "2.0", "software_version": "OpenSSH_8.9p1"}}}
        return [banner, kex], [b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n", kex[::-1]], app
    # smb
    blob = b"\x00\x00\x00\x85\xffSMB" + bytes(rng.randrange(256) for _i in range(rng.randrange(100, 2500)))
    app = {"smb": {"command": "SMB1_COMMAND_TRANS2", "dialect": "NT LM 0.12"}}
    return [blob], [blob[::-1]], app


def _split(data):
    return [data[i:i + MSS] for i in range(0, len(data), MSS)] or [b""]


def _tcp_packets(rng, builder, app_proto, start):
    sess = _TcpSession(builder, rng)
    rtt = rng.uniform(0.001, 0.06)
    t = start
    pkts = []

    def add(to_server, flags, payload=b""):
        pkts.append(Packet(t, to_server, sess.seg(to_server, flags, payload), len(payload)))

    ack, psh = dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK
    add(True, dpkt.tcp.TH_SYN)
    t += rtt / 2
    add(False, dpkt.tcp.TH_SYN | ack)
    t += rtt / 2
    add(True, ack)
    requests_, responses, app = _app_payloads(rng, app_proto)
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
                add(True, ack)
        t += rtt / 2
        add(True, ack)
    t += rng.uniform(0.01, 2.0)
    add(True, dpkt.tcp.TH_FIN | ack)
    t += rtt / 2
    add(False, dpkt.tcp.TH_FIN | ack)
    t += rtt / 2
    add(True, ack)
    return pkts, app, trigger


def _udp_packets(rng, builder, start):
    domain = rng.choice(DOMAINS)
    pkts = []
    t = start
    first_id = None
    for qtype in (dpkt.dns.DNS_A, dpkt.dns.DNS_AAAA)[:rng.randrange(1, 3)]:
        qid = rng.randrange(65536)
        first_id = qid if first_id is None else first_id
        query = dpkt.dns.DNS(id=qid, op=dpkt.dns.DNS_RD, qd=[dpkt.dns.DNS.Q(name=domain, type=qtype)])
        pkts.append(Packet(t, True, builder.udp(True, bytes(query)), len(bytes(query))))
        t += rng.uniform(0.002, 0.05)
        answer = dpkt.dns.DNS(id=qid, op=dpkt.dns.DNS_RD | dpkt.dns.DNS_RA | dpkt.dns.DNS_QR,
                              qd=[dpkt.dns.DNS.Q(name=domain, type=qtype)])
        pkts.append(Packet(t, False, builder.udp(False, bytes(answer)), len(bytes(answer))))
        t += rng.uniform(0.0005, 0.01)
    app = {"dns": {"query": [{"type": "query", "id": first_id, "rrname": domain, "rrtype": "A"}]}}
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
