"""A flow's EVE events other than its alerts, and the files Suricata's filestore kept of it.

Pure code (no Django). What events_from_flow_id answers besides the alerts is derived from the packets the probe's
pcap store holds for the flow (the extracted pcap), so it is consistent with the pcap by construction: a ``flow``
event whose counters are those packets (bytes counted as Suricata does for a tunnelled flow, see
tunnels.counted_len), one app-layer event (http, tls, dns, ssh or smb: the alert's app-layer object, which
payloads.py wrote into the packets) and, for HTTP, a ``fileinfo`` event for the response body with the sha256 and
size of the body bytes in the pcap. ``stored`` is true when the filestore holds the body.

The filestore (``<data dir>/filestore/<sha256[:2]>/<sha256>``, as Scirius's FILESTORE_SRC) is written when the flow
is generated (``store_bodies``): the HTTP response bodies of the flows whose flow_id is not a multiple of
UNSTORED_EVERY (deterministic, so tests can find both kinds).
"""

import hashlib
import os
import socket

import dpkt

from . import pcapstore, tunnels

UNSTORED_EVERY = 4
HEADER_END = b"\r\n\r\n"
APP_LAYERS = ("http", "tls", "dns", "ssh", "smb")
COMMON_KEYS = ("host", "flow_id", "in_iface", "src_ip", "src_port", "dest_ip", "dest_port", "proto", "app_proto")


def filestore_path(data_dir, sha256):
    return os.path.join(data_dir, "filestore", sha256[:2], sha256)


def stores_body(flow_id):
    return flow_id % UNSTORED_EVERY != 0


def http_body(server_stream):
    """The body of the HTTP answer in ``server_stream`` (the server's payload bytes in order), or None."""
    head, found, rest = server_stream.partition(HEADER_END)
    if not found or not head.startswith(b"HTTP/"):
        return None
    for line in head.split(b"\r\n"):
        name, _colon, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return rest[:int(value.strip())]
    return rest


def _write_once(path, data):
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def store_bodies(data_dir, flows):
    """Keep the HTTP response body of each of ``flows`` (traffic.Flow) that the filestore stores. Every frame ends
    with its TCP payload (tunnels put the inner frame last), so the payloads are read without decoding."""
    for flow in flows:
        if flow.app_proto != "http" or not stores_body(flow.flow_id):
            continue
        stream = b"".join(pkt.frame[len(pkt.frame) - pkt.payload_len:] for pkt in flow.packets
                          if not pkt.to_server and pkt.payload_len)
        body = http_body(stream)
        if body is not None:
            _write_once(filestore_path(data_dir, hashlib.sha256(body).hexdigest()), body)


def _innermost(frame):
    """``(ip, counted length)``: the innermost IP layer of a stored frame and the bytes Suricata counts for it."""
    node, counted, ip = dpkt.ethernet.Ethernet(frame), len(frame), None
    for _depth in range(tunnels.MAX_LAYERS):
        while isinstance(node, (dpkt.ethernet.Ethernet, dpkt.pppoe.PPPoE, dpkt.ppp.PPP)):
            node = node.data
        if not isinstance(node, (dpkt.ip.IP, dpkt.ip6.IP6)):
            break
        ip = node
        inner = tunnels._inner(node)  # pylint: disable=protected-access
        if inner is None:
            break
        counted = len(bytes(inner))
        node = inner
    return ip, counted


def _address(packed):
    return socket.inet_ntop(socket.AF_INET6 if len(packed) == 16 else socket.AF_INET, packed)


def flow_packets(pcap, alert):
    """``[(ts, to_server, counted length, payload)]`` of the packets of ``alert``'s flow in ``pcap`` (bytes)."""
    out = []
    for sec, usec, frame in pcapstore.read_pcap(pcap):
        ip, counted = _innermost(frame)
        if ip is None:
            continue
        l4 = ip.data
        to_server = _address(ip.src) == alert["src_ip"] and getattr(l4, "sport", None) == alert.get("src_port")
        out.append((sec + usec / 1e6, to_server, counted, bytes(getattr(l4, "data", b""))))
    return out


def _event(alert, event_type, ts, iso_utc, iso_local):
    event = {key: alert[key] for key in COMMON_KEYS if key in alert}
    event.update({"event_type": event_type, "@timestamp": iso_utc(ts), "timestamp": iso_local(ts)})
    return event


def derived_events(alert, pcap, data_dir, iso_utc, iso_local):
    """The flow, app-layer and fileinfo events of ``alert``'s flow, from its extracted ``pcap`` (bytes)."""
    packets = flow_packets(pcap, alert)
    if not packets:
        return []
    counters = {"pkts_toserver": 0, "pkts_toclient": 0, "bytes_toserver": 0, "bytes_toclient": 0}
    for _ts, to_server, counted, _payload in packets:
        way = "toserver" if to_server else "toclient"
        counters["pkts_" + way] += 1
        counters["bytes_" + way] += counted
    start, end = packets[0][0], packets[-1][0]
    flow = _event(alert, "flow", end, iso_utc, iso_local)
    flow["flow"] = dict(counters, start=iso_local(start), end=iso_local(end), age=int(end - start),
                        state="closed", reason="timeout", alerted=True)
    events = [flow]
    first_data = next((ts for ts, _way, _len, payload in packets if payload), start)
    for app in APP_LAYERS:
        if isinstance(alert.get(app), dict):
            event = _event(alert, app, first_data, iso_utc, iso_local)
            event[app] = alert[app]
            events.append(event)
    body = http_body(b"".join(payload for _ts, to_server, _len, payload in packets if not to_server))
    if isinstance(alert.get("http"), dict) and body is not None:
        sha256 = hashlib.sha256(body).hexdigest()
        last = max(ts for ts, to_server, _len, payload in packets if not to_server and payload)
        event = _event(alert, "fileinfo", last, iso_utc, iso_local)
        event["http"] = alert["http"]
        event["fileinfo"] = {"filename": alert["http"].get("url", ""), "gaps": False, "state": "CLOSED",
                             "sha256": sha256, "stored": os.path.isfile(filestore_path(data_dir, sha256)),
                             "size": len(body), "tx_id": 0, "sid": []}
        if event["fileinfo"]["stored"]:
            event["fileinfo"]["file_id"] = 1
        events.append(event)
    return events
