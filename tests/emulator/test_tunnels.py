"""Tunnelled flows: stored as the outer frames, alerted on with the inner 5-tuple (and a `tunnel` object), extracted."""
# pylint: disable=redefined-outer-name

import json
import socket
import struct

import dpkt
import pytest

from scs_emulator import pcapstore, tunnels
from scs_emulator.testing import Emulator, EmulatorError
from test_pcap import FS, upload, workflow

NOW = 1777716000.0
OUTER_PROTOCOLS = {"vxlan": ("UDP", 17, 4789), "geneve": ("UDP", 17, 6081), "gre": ("GRE", 47, 0),
                   "erspan": ("GRE", 47, 0)}


@pytest.fixture(scope="module")
def tunnel_emu():
    """A TLS emulator whose probes all keep pcaps, with a store that rotates nothing during these tests."""
    with Emulator(tls=True, seed=7, probes=2, templates=1, alerts=10, flows=5, pcap="all",
                  extra_args=["--pcap-total-size", "20000000", "--pcap-file-size", "1000000"]) as emulator:
        yield emulator


ETHERTYPES = {"mpls": 0x8847, "pppoe": 0x8864, "qinq": 0x88A8}


def expected_tunnel(kind, alert):
    if kind in ("mpls", "pppoe", "qinq"):
        return None
    proto, _number, dport = OUTER_PROTOCOLS.get(kind, ("IPv6" if ":" in alert["src_ip"] else "IP-in-IP", 0, 0))
    return {"proto": proto, "dest_port": dport, "depth": 1, "pkt_src": "wire/pcap"}


@pytest.mark.parametrize("kind", tunnels.KINDS)
def test_tunnelled_alerts_carry_the_inner_5_tuple_and_their_pcap_the_outer_frames(tunnel_emu, kind):
    alerts = tunnel_emu.add_alerts(probe="probe-01", count=3, encapsulation=kind)
    for alert in alerts:
        tunnel = alert.get("tunnel")
        expected = expected_tunnel(kind, alert)
        if expected is None:
            assert tunnel is None, alert
        else:
            assert {key: tunnel[key] for key in expected} == expected
            assert set(tunnel) == {"src_ip", "src_port", "dest_ip", "dest_port", "proto", "depth", "pkt_src"}
        data = workflow(tunnel_emu, alert).content
        assert data == tunnel_emu.expected_pcap(alert["_id"])
        records = pcapstore.read_pcap(data)
        assert len(records) >= 2
        inner = pcapstore.alert_key(alert)
        for _sec, _usec, frame in records:
            keys = tunnels.layer_keys(frame)
            assert keys[-1] == inner and len(keys) == (1 if expected is None else 2)
            assert struct.unpack("!H", frame[12:14])[0] == ETHERTYPES.get(kind, 0x0800)
            if expected is None:
                assert pcapstore.frame_key(frame) is None  # MPLS, PPPoE, QinQ before the IP header
            else:
                outer = dpkt.ethernet.Ethernet(frame).data
                assert outer.p == OUTER_PROTOCOLS.get(kind, (None, 41 if ":" in alert["src_ip"] else 4))[1]
                ends = (socket.inet_ntoa(outer.src), socket.inet_ntoa(outer.dst))
                assert set(ends) == {tunnel["src_ip"], tunnel["dest_ip"]}
                if kind in ("vxlan", "geneve", "erspan"):  # a mirror: one way whatever the direction inside
                    assert ends == (tunnel["src_ip"], tunnel["dest_ip"])
                if OUTER_PROTOCOLS.get(kind, ("", 0))[1] == 17:
                    assert (outer.data.sport, outer.data.dport) == (tunnel["src_port"], tunnel["dest_port"])


def test_extraction_follows_the_tunnel_object_of_the_uploaded_alert(tunnel_emu):
    [alert] = tunnel_emu.add_alerts(probe="probe-02", count=1, encapsulation="gre")
    packets = len(pcapstore.read_pcap(tunnel_emu.expected_pcap(alert["_id"])))
    other_tunnel = dict(alert, tunnel=dict(alert["tunnel"], src_ip="198.51.100.200"))
    assert _extracted(tunnel_emu, other_tunnel) == pcapstore.GLOBAL_HEADER  # the flow, but not in that tunnel
    without = {key: value for key, value in alert.items() if key != "tunnel"}
    assert len(pcapstore.read_pcap(_extracted(tunnel_emu, without))) == packets  # the inner 5-tuple at any depth
    assert len(pcapstore.read_pcap(_extracted(tunnel_emu, alert))) == packets


def _extracted(emu, alert):
    assert upload(emu, alert).json()["upload"] == "done"
    assert emu.rest("POST", FS + "%s/extract_pcap/" % alert["_id"], params={"host": alert["host"]}).status_code == 200
    assert emu.rest("GET", FS + "%s/retrieve/" % alert["_id"], params={"host": alert["host"]}).status_code == 200
    return emu.rest("GET", FS + "%s/download/" % alert["_id"]).content


def test_unknown_encapsulation_is_refused(tunnel_emu):
    with pytest.raises(EmulatorError, match="400.*encapsulation must be one of vxlan, geneve, gre"):
        tunnel_emu.add_alerts(probe="probe-01", count=1, encapsulation="teredo")


def test_same_seed_same_tunnelled_alerts_and_pcaps():
    runs = []
    for _run in range(2):
        with Emulator(tls=False, seed=11, probes=1, templates=0, alerts=4, flows=2, pcap="all",
                      extra_args=["--now", str(NOW)]) as emulator:
            alerts = emulator.add_alerts(probe="probe-01", count=2, encapsulation="vxlan", now=NOW)
            runs.append((json.dumps(alerts, sort_keys=True), [emulator.expected_pcap(a["_id"]) for a in alerts]))
    assert runs[0] == runs[1]
    assert all(len(pcap) > 24 for pcap in runs[0][1])


def inner_packet(kind, frame):
    """(bytes Suricata counts for a tunnelled packet in its inner flow, that packet's IP layer), decoded with dpkt:
    the pseudo packet made of the tunnel's payload (an Ethernet frame for VXLAN and ERSPAN, an IP packet for GRE,
    Geneve and IP-in-IP); the whole frame when the encapsulation is decoded in place (MPLS, PPPoE, VLAN tags)."""
    if kind in ("mpls", "pppoe", "qinq"):
        node = dpkt.ethernet.Ethernet(frame).data
        while not isinstance(node, (dpkt.ip.IP, dpkt.ip6.IP6)):
            node = node.data
        return frame, node
    outer = dpkt.ethernet.Ethernet(frame).data
    if kind in ("vxlan", "geneve"):
        payload = bytes(outer.data.data)
        inner = payload[8 + (0 if kind == "vxlan" else (payload[0] & 0x3F) * 4):]
    elif kind == "erspan":
        inner = bytes(outer.data.data)[8:]  # after the ERSPAN type II header
    else:
        inner = bytes(outer.data.data if kind == "gre" else outer.data)
    if kind in ("vxlan", "erspan"):
        return inner, dpkt.ethernet.Ethernet(inner).data
    return inner, (dpkt.ip6.IP6 if inner[0] >> 4 == 6 else dpkt.ip.IP)(inner)


@pytest.mark.parametrize("kind", tunnels.KINDS)
def test_tunnelled_flow_counters_count_what_the_inner_flow_sees(tunnel_emu, kind):
    for alert in tunnel_emu.add_alerts(probe="probe-02", count=2, encapsulation=kind):
        flow = alert["flow"]
        records = pcapstore.read_pcap(workflow(tunnel_emu, alert).content)[:flow["pkts_toserver"] + flow["pkts_toclient"]]
        client = socket.inet_pton(socket.AF_INET6 if ":" in alert["src_ip"] else socket.AF_INET, alert["src_ip"])
        counted = {"toserver": [0, 0], "toclient": [0, 0]}
        for _sec, _usec, frame in records:
            inner, ip = inner_packet(kind, frame)
            way = "toserver" if ip.src == client else "toclient"
            counted[way][0] += 1
            counted[way][1] += len(inner)
        assert {way: [flow["pkts_" + way], flow["bytes_" + way]] for way in counted} == counted
