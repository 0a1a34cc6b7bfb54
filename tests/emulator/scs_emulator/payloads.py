"""Application-layer payloads of the synthetic flows, consistent with the alert's app-layer block.

Pure code (no Django). Each builder takes a random.Random and returns the client's and the server's messages and the
EVE app-layer object Suricata would log for them: an HTTP/1.1 request with the logged Host, URL and User-Agent; a TLS
1.3 handshake whose ClientHello carries the logged SNI (its JA3/JA3S computed from the hellos as Suricata does); SSH
banners and KEXINIT packets; an SMB1 TRANS2 exchange in NetBIOS session messages; DNS queries and their
answers. Random bytes stand for what is encrypted or opaque; they come from rng.randbytes (one call per blob), which
keeps generation cheap for the 50,000-alert benchmarks.
"""

import hashlib
import string
import struct

DOMAINS = ["update.example.com", "cdn.example.net", "evil-c2.example.top", "files.example.cloud",
           "api.example.org", "discord.com", "login.example.com", "static.example.net"]
USER_AGENTS = ["curl/8.5.0", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "Go-http-client/1.1", "python-requests/2.31.0"]
_PRINTABLE = (string.ascii_letters + string.digits + " \n").encode()
_TO_PRINTABLE = bytes(_PRINTABLE[i % len(_PRINTABLE)] for i in range(256))

TLS_1_2, TLS_1_3 = 0x0303, 0x0304
# Two client profiles (cipher suites, then supported groups), so that JA3 hashes differ between clients.
TLS_CLIENTS = [
    ((0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C, 0x009D,
      0x002F, 0x0035), (0x001D, 0x0017, 0x0018)),
    ((0x1302, 0x1303, 0x1301, 0xC02C, 0xC030, 0x009F, 0xCCA9, 0xCCA8, 0xCCAA, 0xC02B, 0xC02F, 0x009E, 0xC024,
      0xC028, 0x006B, 0xC023, 0xC027, 0x0067, 0x00FF), (0x001D, 0x0017, 0x001E, 0x0019, 0x0018)),
]
SIGNATURE_ALGORITHMS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)
EXT_SERVER_NAME, EXT_GROUPS, EXT_POINT_FORMATS, EXT_SIG_ALGS, EXT_ALPN = 0, 10, 11, 13, 16
EXT_SESSION_TICKET, EXT_VERSIONS, EXT_PSK_MODES, EXT_KEY_SHARE = 35, 43, 45, 51
GROUP_X25519 = 0x001D
DNS_A, DNS_AAAA, DNS_IN = 1, 28, 1
DNS_QR, DNS_RD, DNS_RA = 0x8000, 0x0100, 0x0080
DNS_NAME_AT_QUESTION = 0xC00C  # a compression pointer to the question's name (offset 12)


def printable(rng, size):
    return rng.randbytes(size).translate(_TO_PRINTABLE)


def _vec(length_bytes, body):
    """A TLS vector: its length on `length_bytes` bytes (1, 2 or 3), then the body."""
    return len(body).to_bytes(length_bytes, "big") + body


def _u16s(values):
    return struct.pack("!%dH" % len(values), *values)


def _ext(ext_type, body):
    return struct.pack("!H", ext_type) + _vec(2, body)


def _record(content_type, body, version=TLS_1_2):
    return struct.pack("!BH", content_type, version) + _vec(2, body)


def _handshake(msg_type, body):
    return bytes([msg_type]) + _vec(3, body)


def client_hello(rng, sni, profile):
    """(TLS record bytes, JA3 string) of a TLS 1.3 ClientHello for `sni` (server_name first, as OpenSSL sends it)."""
    ciphers, groups = profile
    extensions = [
        (EXT_SERVER_NAME, _vec(2, b"\x00" + _vec(2, sni.encode("ascii")))),
        (EXT_POINT_FORMATS, _vec(1, b"\x00")),
        (EXT_GROUPS, _vec(2, _u16s(groups))),
        (EXT_SESSION_TICKET, b""),
        (EXT_ALPN, _vec(2, _vec(1, b"h2") + _vec(1, b"http/1.1"))),
        (EXT_SIG_ALGS, _vec(2, _u16s(SIGNATURE_ALGORITHMS))),
        (EXT_VERSIONS, _vec(1, _u16s((TLS_1_3, TLS_1_2)))),
        (EXT_PSK_MODES, _vec(1, b"\x01")),
        (EXT_KEY_SHARE, _vec(2, struct.pack("!H", GROUP_X25519) + _vec(2, rng.randbytes(32)))),
    ]
    body = (struct.pack("!H", TLS_1_2) + rng.randbytes(32) + _vec(1, rng.randbytes(32)) + _vec(2, _u16s(ciphers))
            + _vec(1, b"\x00") + _vec(2, b"".join(_ext(t, data) for t, data in extensions)))
    ja3 = "%d,%s,%s,%s,0" % (TLS_1_2, "-".join(map(str, ciphers)), "-".join(str(t) for t, _d in extensions),
                             "-".join(map(str, groups)))
    return _record(22, _handshake(1, body), version=0x0301), ja3


def server_flight(rng, session_id, encrypted_len):
    """(bytes, JA3S string): ServerHello (TLS 1.3, x25519), ChangeCipherSpec, then one encrypted record standing for
    EncryptedExtensions, Certificate, CertificateVerify and Finished."""
    cipher = 0x1301
    extensions = [(EXT_VERSIONS, struct.pack("!H", TLS_1_3)),
                  (EXT_KEY_SHARE, struct.pack("!H", GROUP_X25519) + _vec(2, rng.randbytes(32)))]
    body = (struct.pack("!H", TLS_1_2) + rng.randbytes(32) + _vec(1, session_id) + struct.pack("!HB", cipher, 0)
            + _vec(2, b"".join(_ext(t, data) for t, data in extensions)))
    flight = _record(22, _handshake(2, body)) + _record(20, b"\x01") + _record(23, rng.randbytes(encrypted_len))
    ja3s = "%d,%d,%s" % (TLS_1_2, cipher, "-".join(str(t) for t, _d in extensions))
    return flight, ja3s


def tls(rng, domain):
    hello, ja3 = client_hello(rng, domain, rng.choice(TLS_CLIENTS))
    session_id = hello[44:76]  # record (5) + handshake header (4) + version (2) + random (32) + length (1)
    flight, ja3s = server_flight(rng, session_id, rng.randrange(1500, 4000))
    finished = _record(20, b"\x01") + _record(23, rng.randbytes(53))
    request = _record(23, rng.randbytes(rng.randrange(100, 3000)))
    response = _record(23, rng.randbytes(rng.randrange(100, 3000)))
    app = {"tls": {"sni": domain, "version": "TLS 1.3",
                   "ja3": {"hash": hashlib.md5(ja3.encode()).hexdigest(), "string": ja3},  # nosec - JA3 is MD5
                   "ja3s": {"hash": hashlib.md5(ja3s.encode()).hexdigest(), "string": ja3s}}}  # nosec
    return [hello, finished + request], [flight, response], app


def http(rng, domain):
    method = rng.choice(["GET", "GET", "POST"])
    url = "/%s/%s" % (rng.choice(["api", "download", "gate", "static"]), rng.choice(["index.php", "update.bin", "a.js", "data"]))
    agent = rng.choice(USER_AGENTS)
    body_len = rng.randrange(200, 9000)
    sent = printable(rng, rng.randrange(40, 400)) if method == "POST" else b""
    head = "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n" % (method, url, domain, agent)
    if sent:
        head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n" % len(sent)
    request = head.encode() + b"\r\n" + sent
    answer = ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % body_len).encode()
    app = {"http": {"hostname": domain, "url": url, "http_user_agent": agent, "http_method": method,
                    "protocol": "HTTP/1.1", "status": 200, "http_content_type": "application/octet-stream",
                    "length": body_len}}
    return [request], [answer + printable(rng, body_len)], app


def _ssh_packet(rng, payload):
    """An unencrypted SSH binary packet (RFC 4253 section 6): padding to a multiple of 8, at least 4 bytes."""
    padding = 4 + (-(5 + len(payload) + 4)) % 8
    return struct.pack("!IB", 1 + len(payload) + padding, padding) + payload + rng.randbytes(padding)


def _kexinit(rng, kex, hostkeys, ciphers, macs):
    lists = [kex, hostkeys, ciphers, ciphers, macs, macs, "none,zlib@openssh.com", "none,zlib@openssh.com", "", ""]
    return _ssh_packet(rng, b"\x14" + rng.randbytes(16) + b"".join(_vec(4, item.encode()) for item in lists) + b"\x00" * 5)


def ssh(rng, _domain):
    client, server = "libssh_0.9.6", "OpenSSH_8.9p1"
    ciphers = "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr"
    macs = "hmac-sha2-256-etm@openssh.com,hmac-sha2-256"
    client_kex = _kexinit(rng, "curve25519-sha256,ecdh-sha2-nistp256", "ssh-ed25519,rsa-sha2-512", ciphers, macs)
    server_kex = _kexinit(rng, "curve25519-sha256,sntrup761x25519-sha512@openssh.com", "rsa-sha2-512,ssh-ed25519", ciphers, macs)
    app = {"ssh": {"client": {"proto_version": "2.0", "software_version": client},
                   "server": {"proto_version": "2.0", "software_version": server}}}
    return ([b"SSH-2.0-%s\r\n" % client.encode(), client_kex],
            [b"SSH-2.0-%s Ubuntu-3ubuntu0.6\r\n" % server.encode(), server_kex], app)


def _smb1(rng, command, flags, words, data):
    header = struct.pack("<4sBIBH12sHHHH", b"\xffSMB", command, 0, flags, 0xC807, b"\x00" * 12, rng.randrange(1, 65535),
                         rng.randrange(1, 65535), rng.randrange(1, 65535), rng.randrange(1, 65535))
    message = header + bytes([len(words) // 2]) + words + struct.pack("<H", len(data)) + data
    return b"\x00" + _vec(3, message)  # NetBIOS session message


def smb(rng, _domain):
    trans2 = 0x32
    request = _smb1(rng, trans2, 0x18, rng.randbytes(30), rng.randbytes(rng.randrange(100, 2500)))
    response = _smb1(rng, trans2, 0x98, rng.randbytes(20), rng.randbytes(rng.randrange(60, 400)))
    app = {"smb": {"command": "SMB1_COMMAND_TRANS2", "dialect": "NT LM 0.12"}}
    return [request], [response], app


TCP_APPS = {"http": http, "tls": tls, "ssh": ssh, "smb": smb}


def tcp_app(rng, app_proto):
    """(client messages, server messages, EVE app-layer object) of one TCP session, messages in turns."""
    return TCP_APPS[app_proto](rng, rng.choice(DOMAINS))


def _qname(domain):
    return b"".join(_vec(1, label.encode("ascii")) for label in domain.split(".")) + b"\x00"


def dns(rng):
    """(queries and answers in order as (to_server, payload) pairs, EVE app-layer object): an A query (and maybe an
    AAAA one) for one domain, each answered (recursion desired and available, no error) with one address."""
    domain = rng.choice(DOMAINS)
    question = _qname(domain)
    messages = []
    first_id = None
    for qtype, size in ((DNS_A, 4), (DNS_AAAA, 16))[:rng.randrange(1, 3)]:
        qid = rng.randrange(65536)
        first_id = qid if first_id is None else first_id
        asked = question + struct.pack("!HH", qtype, DNS_IN)
        query = struct.pack("!6H", qid, DNS_RD, 1, 0, 0, 0) + asked
        record = struct.pack("!HHHIH", DNS_NAME_AT_QUESTION, qtype, DNS_IN, rng.randrange(60, 3600), size) + rng.randbytes(size)
        answer = struct.pack("!6H", qid, DNS_QR | DNS_RD | DNS_RA, 1, 1, 0, 0) + asked + record
        messages += [(True, query), (False, answer)]
    app = {"dns": {"query": [{"type": "query", "id": first_id, "rrname": domain, "rrtype": "A", "tx_id": 0, "opcode": 0}]}}
    return messages, app
