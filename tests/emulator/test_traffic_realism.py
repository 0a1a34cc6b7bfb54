"""The emulator's pcaps carry real protocols consistent with their alerts: parsed independently with dpkt."""
# pylint: disable=redefined-outer-name

import datetime
import hashlib
import io
import ipaddress
import struct

import dpkt
import pytest

from scs_emulator import pcapstore
from scs_emulator.testing import Emulator

# One file per capture thread and nothing deleted: every alert's pcap holds its whole flow.
WHOLE_FLOWS = ["--pcap-file-size", "50000000", "--pcap-total-size", "100000000"]
SYN, FIN, ACK = dpkt.tcp.TH_SYN, dpkt.tcp.TH_FIN, dpkt.tcp.TH_ACK


@pytest.fixture(scope="module")
def alerts_and_pcaps():
    with Emulator(tls=False, seed=23, probes=2, templates=1, alerts=160, flows=120, pcap="all",
                  extra_args=WHOLE_FLOWS) as emu:
        alerts = emu.alerts("_exists_:capture_file")
        yield [(alert, pcapstore.extract_for_alert(pcapstore.store_dir(emu.data_dir, alert["host"]), alert))
               for alert in alerts]


def flow_packets(data, alert):
    """[(ts, to_server, frame, ip, transport)] of a classic pcap, each packet decoded by dpkt, checked to be the
    alert's flow."""
    src = ipaddress.ip_address(alert["src_ip"]).packed
    ends = {src, ipaddress.ip_address(alert["dest_ip"]).packed}
    out = []
    for ts, frame in dpkt.pcap.Reader(io.BytesIO(data)):
        ip = dpkt.ethernet.Ethernet(frame).data
        assert {ip.src, ip.dst} == ends
        to_server = ip.src == src
        assert (ip.data.sport if to_server else ip.data.dport) == alert["src_port"]
        out.append((ts, to_server, frame, ip, ip.data))
    return out


def check_checksums(frame, ip):
    """IP header and TCP/UDP checksums verify (RFC 1071: the sum over the data including the checksum is zero)."""
    if isinstance(ip, dpkt.ip.IP):
        header_len = ip.hl * 4
        assert ip.len == len(frame) - 14
        assert dpkt.in_cksum(frame[14:14 + header_len]) == 0
        transport = frame[14 + header_len:14 + ip.len]
        pseudo = ip.src + ip.dst + struct.pack("!BBH", 0, ip.p, len(transport))
    else:
        assert ip.plen == len(frame) - 54
        transport = frame[54:]
        pseudo = ip.src + ip.dst + struct.pack("!I3xB", len(transport), ip.nxt)
    assert dpkt.in_cksum(pseudo + transport) == 0


def check_tcp_session(packets):
    """Handshake, sequence and acknowledgement numbers of both sides, FIN from both, the last ACK."""
    first = [p[4] for p in packets[:3]]
    assert [t.flags for t in first] == [SYN, SYN | ACK, ACK]
    assert first[1].ack == (first[0].seq + 1) % 2 ** 32 and first[2].ack == (first[1].seq + 1) % 2 ** 32
    next_seq = {True: first[0].seq, False: first[1].seq}
    for _ts, to_server, _frame, _ip, tcp in packets:
        assert tcp.seq == next_seq[to_server]
        if tcp.flags & ACK:
            assert tcp.ack == next_seq[not to_server]
        next_seq[to_server] = (tcp.seq + len(tcp.data) + (1 if tcp.flags & (SYN | FIN) else 0)) % 2 ** 32
    assert [(p[1], p[4].flags & (FIN | ACK)) for p in packets[-3:]] == [(True, FIN | ACK), (False, FIN | ACK), (True, ACK)]


def stream(packets, to_server):
    return b"".join(bytes(p[4].data) for p in packets if p[1] == to_server)


def check_tls(alert, packets):
    record = dpkt.ssl.TLSRecord(stream(packets, True))
    handshake = dpkt.ssl.TLSHandshake(record.data)
    assert (record.type, handshake.type) == (22, 1)
    hello = handshake.data
    extensions = dict(hello.extensions)
    names = extensions[0]  # server_name: list length, then (type, length, name) entries
    assert names[2] == 0 and names[5:5 + struct.unpack("!H", names[3:5])[0]].decode() == alert["tls"]["sni"]
    groups = struct.unpack("!%dH" % (len(extensions[10]) // 2 - 1), extensions[10][2:])
    ja3 = "%d,%s,%s,%s,%s" % (hello.version, "-".join(str(c.code) for c in hello.ciphersuites),
                              "-".join(str(t) for t, _data in hello.extensions), "-".join(map(str, groups)),
                              "-".join(str(b) for b in extensions[11][1:]))
    assert alert["tls"]["ja3"] == {"hash": hashlib.md5(ja3.encode()).hexdigest(), "string": ja3}
    server = dpkt.ssl.TLSRecord(stream(packets, False))
    assert (server.type, dpkt.ssl.TLSHandshake(server.data).type) == (22, 2)


def check_http(alert, packets):
    request = dpkt.http.Request(stream(packets, True))
    assert (request.method, request.uri) == (alert["http"]["http_method"], alert["http"]["url"])
    assert request.headers["host"] == alert["http"]["hostname"]
    assert request.headers["user-agent"] == alert["http"]["http_user_agent"]
    assert len(request.body) == int(request.headers.get("content-length", 0))
    response = dpkt.http.Response(stream(packets, False))
    assert (int(response.status), len(response.body)) == (alert["http"]["status"], alert["http"]["length"])


def check_dns(alert, packets):
    [query] = alert["dns"]["query"]
    messages = [dpkt.dns.DNS(bytes(p[4].data)) for p in packets]
    assert [m.qr for m in messages] == [dpkt.dns.DNS_Q, dpkt.dns.DNS_R] * (len(messages) // 2)
    assert (messages[0].id, messages[0].qd[0].name, messages[0].qd[0].type) == (query["id"], query["rrname"], dpkt.dns.DNS_A)
    for asked, answered in zip(messages[::2], messages[1::2]):
        assert answered.id == asked.id and answered.rcode == dpkt.dns.DNS_RCODE_NOERR
        [record] = answered.an
        assert (record.name, record.type) == (asked.qd[0].name, asked.qd[0].type)
        assert len(record.rdata) == {dpkt.dns.DNS_A: 4, dpkt.dns.DNS_AAAA: 16}[record.type]


def check_ssh(alert, packets):
    for to_server, side in ((True, "client"), (False, "server")):
        banner, rest = stream(packets, to_server).split(b"\r\n", 1)
        assert banner.startswith(b"SSH-2.0-" + alert["ssh"][side]["software_version"].encode())
        length, _padding, message = struct.unpack("!IBB", rest[:6])
        assert (message, length + 4) == (20, len(rest))  # one KEXINIT binary packet


def check_smb(_alert, packets):
    for to_server in (True, False):
        data = stream(packets, to_server)
        assert data[0] == 0 and int.from_bytes(data[1:4], "big") == len(data) - 4 and data[4:8] == b"\xffSMB"


APP_CHECKS = {"tls": check_tls, "http": check_http, "dns": check_dns, "ssh": check_ssh, "smb": check_smb}


def eve_time(text):
    return datetime.datetime.fromisoformat(text).timestamp()


def test_pcaps_carry_the_protocols_their_alerts_describe(alerts_and_pcaps):
    seen = set()
    for alert, data in alerts_and_pcaps:
        packets = flow_packets(data, alert)
        for _ts, _to_server, frame, ip, _transport in packets:
            check_checksums(frame, ip)
        if alert["proto"] == "TCP":
            check_tcp_session(packets)
        APP_CHECKS[alert["app_proto"]](alert, packets)
        seen.add((alert["app_proto"], ":" in alert["src_ip"]))
    assert {app for app, _v6 in seen} == set(APP_CHECKS) and {v6 for _app, v6 in seen} == {True, False}


def test_flow_counters_are_the_packets_of_the_pcap_up_to_the_alerted_one(alerts_and_pcaps):
    """Suricata counts each packet's captured length (the Ethernet frame) in its direction, the alerted one included."""
    later_alerts = 0
    for alert, data in alerts_and_pcaps:
        packets = flow_packets(data, alert)
        flow = alert["flow"]
        upto = packets[:flow["pkts_toserver"] + flow["pkts_toclient"]]
        counted = {"pkts_toserver": 0, "pkts_toclient": 0, "bytes_toserver": 0, "bytes_toclient": 0}
        for _ts, to_server, frame, _ip, _transport in upto:
            way = "toserver" if to_server else "toclient"
            counted["pkts_" + way] += 1
            counted["bytes_" + way] += len(frame)
        assert {key: flow[key] for key in counted} == counted, alert["_id"]
        assert abs(upto[-1][0] - eve_time(alert["timestamp"])) < 2e-6
        assert abs(packets[0][0] - eve_time(flow["start"])) < 2e-6
        later_alerts += len(upto) > 4
    assert later_alerts  # some alerts are on packets after the one that triggered the first
