"""Alert generation: flows -> alert documents, with the flows written to the probe's pcap store.

Used by the seed (many flows in the past) and by the admin API (new alerts now). A flow is
written to the store only when the probe's *applied* conditional pcap is on; writing starts at the
flow's first alert (the earlier packets of the stream go with it) and runs to the end of the flow.
"""

import datetime
import string

from . import flowevents, pcapstore, traffic, tunnels

ID_ALPHABET = string.ascii_letters + string.digits + "-_"
# Declarations of Compromise: (family_id, family_name, family_type, threat_id, threat_name, kill chain phase).
THREATS = [(3, "Emotet", "malware", 17, "Emotet C2 communication", "command_and_control"),
           (5, "Cobalt Strike", "post_exploitation", 42, "Cobalt Strike beacon", "command_and_control"),
           (8, "Log4Shell", "exploit", 63, "Log4j remote code execution attempt", "exploitation")]
SEVERITY_LABELS = {1: "Major", 2: "Minor", 3: "Informational"}
TZ_OFFSETS_MIN = [120, 0, -300, 60, 330, -420]


def new_alert_id(rng):
    return "".join(rng.choice(ID_ALPHABET) for _i in range(20))


def iso_utc_ms(ts):
    dt = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def iso_local_us(ts, offset_min):
    tz = datetime.timezone(datetime.timedelta(minutes=offset_min))
    return datetime.datetime.fromtimestamp(ts, tz=tz).strftime("%Y-%m-%dT%H:%M:%S.%f%z")


def ts_ms(ts):
    return int(ts * 1000)


def store_for(probe, config):
    return pcapstore.PcapStore(pcapstore.store_dir(config["data_dir"], probe.name),
                               config["pcap_file_size"], config["pcap_total_size"])


def flow_thread(flow, probe):
    return flow.flow_id % max(1, probe.capture_threads) + 1


def build_doc(alert_id, flow, pkt_idx, sig, probe, capture_file):
    ts = flow.packets[pkt_idx].ts
    sid, rev, signature, category, severity = sig
    doc = {
        "_id": alert_id,
        "@timestamp": iso_utc_ms(ts),
        "timestamp": iso_local_us(ts, probe.tz_offset_min),
        "flow_id": flow.flow_id,
        "in_iface": "eth1",
        "event_type": "alert",
        "src_ip": flow.src_ip,
        "src_port": flow.src_port,
        "dest_ip": flow.dest_ip,
        "dest_port": flow.dest_port,
        "proto": flow.proto,
        "app_proto": flow.app_proto,
        "direction": "to_server",
        "alert": {
            "action": "allowed", "gid": 1, "signature_id": sid, "rev": rev, "signature": signature,
            "category": category, "severity": severity,
            "metadata": {"signature_severity": [SEVERITY_LABELS.get(severity, "Informational")],
                         "attack_target": ["Client_Endpoint"], "deployment": ["Perimeter"]},
        },
        "flow": dict(flow.counters(pkt_idx), start=iso_local_us(flow.start, probe.tz_offset_min)),
        "host": probe.name,
    }
    doc.update(flow.app)
    tunnel = flow.eve_tunnel(pkt_idx)
    if tunnel is not None:
        doc["tunnel"] = tunnel
    if capture_file:
        doc["capture_file"] = capture_file
    return doc


def as_doc(rng, doc):
    """A Declaration of Compromise on the alert's flow: event_type stamus, a `stamus` object (scout's stamus.schema.ts)
    beside the alert it was declared from, with the flow id, 5-tuple and capture_file of that alert."""
    family_id, family_name, family_type, threat_id, threat_name, phase = rng.choice(THREATS)
    doc = dict(doc, event_type="stamus")
    doc["stamus"] = {
        "pk": rng.randrange(1, 100000), "method_id": threat_id * 10 + 1, "asset": doc["src_ip"], "asset_type": "ip",
        "source": doc["dest_ip"], "asset_net_info": "Internal", "kill_chain": phase, "kill_chain_offender": phase,
        "extra_info": "", "family_id": family_id, "family_type": family_type, "threat_id": threat_id,
        "threat_name": threat_name, "family_name": family_name,
    }
    return doc


def as_sighting(doc):
    """A Sighting: an alert (event_type alert) with a `discovery` object (scout's discovery.schema.ts), what SCS
    selects with (event_type:alert AND discovery:*)."""
    doc = dict(doc)
    value = doc.get("http", {}).get("hostname") or doc.get("tls", {}).get("sni") or doc["dest_ip"]
    doc["discovery"] = {"asset_role": ["client"], "key": "%s.hostname" % doc.get("app_proto", "ip"),
                        "asset": doc["src_ip"], "value": str(value), "asset_net": "Internal"}
    return doc


def alerts_for_flows(rng, probe, flows_alerts, config, write_packets=True):
    """Write the flows to the store (when pcap is applied) and build the alert docs.

    flows_alerts: list of (flow, [(pkt_idx, sig), ...]) with packet indexes sorted.
    Returns a list of (doc, ts_seconds).
    """
    capture = {}
    flowevents.store_bodies(config["data_dir"], [flow for flow, alerts in flows_alerts if alerts])
    if probe.applied_pcap and write_packets:
        events = []
        for fidx, (flow, alerts) in enumerate(flows_alerts):
            if not alerts:
                continue
            thread = flow_thread(flow, probe)
            first_ts = flow.packets[alerts[0][0]].ts
            alert_pkts = {idx for idx, _sig in alerts}
            for pidx, pkt in enumerate(flow.packets):
                tag = (fidx, pidx) if pidx in alert_pkts else None
                events.append((max(pkt.ts, first_ts), thread, pkt.ts, pkt.frame, tag, fidx, pidx))
        events.sort(key=lambda e: (e[0], e[2], e[5], e[6]))
        store = store_for(probe, config)
        with store.lock:
            placed = store.write((e[0], e[1], e[2], e[3], e[4]) for e in events)
        capture = {tag: pcapstore.alert_path(name) for tag, name in placed.items()}
    out = []
    for fidx, (flow, alerts) in enumerate(flows_alerts):
        for pidx, sig in alerts:
            doc = build_doc(new_alert_id(rng), flow, pidx, sig, probe, capture.get((fidx, pidx)))
            out.append((doc, flow.packets[pidx].ts))
    return out


def pick_alert_packets(rng, flow, count):
    """`count` alert packet indexes for a flow: the trigger first, the others at or after it."""
    idxs = [flow.trigger] + [rng.randrange(flow.trigger, len(flow.packets)) for _i in range(count - 1)]
    return sorted(idxs)


def new_alerts_now(rng, probe, config, now, count, kind="normal", severity=None, signature_id=None, used=None,
                   encapsulation=None):
    """Alerts generated at `now` on `probe` (the admin API). Returns [(doc, ts), ...].

    Kinds `doc` and `sighting` are alerts made Declarations of Compromise or Sightings, each on its own new flow, as
    `normal`. `encapsulation` (one of tunnels.KINDS): the new flows' frames are wrapped in that tunnel, as a probe fed
    by traffic mirroring or behind a tunnel sees them.
    """
    if kind in ("doc", "sighting"):
        made = new_alerts_now(rng, probe, config, now, count, "normal", severity, signature_id, used, encapsulation)
        return [(as_doc(rng, doc) if kind == "doc" else as_sighting(doc), ts) for doc, ts in made]
    used = used if used is not None else set()
    net = probe.appliance_id % 250

    def make_flow(start):
        flow = traffic.make_flow(rng, start, net, used)
        if encapsulation is not None:
            tunnels.encapsulate(rng, flow, encapsulation)
        return flow

    if kind == "same_flow":
        flow = make_flow(now - rng.uniform(8, 20))
        pkts = pick_alert_packets(rng, flow, count)
        sig = traffic.pick_signature(rng, flow.app_proto, signature_id, severity)
        return alerts_for_flows(rng, probe, [(flow, [(p, sig) for p in pkts])], config)
    flows_alerts = []
    for _i in range(count):
        flow = make_flow(now - rng.uniform(8, 60))
        sig = traffic.pick_signature(rng, flow.app_proto, signature_id, severity)
        flows_alerts.append((flow, [(flow.trigger, sig)]))
    if kind == "no_packets":
        store = store_for(probe, config)
        with store.lock:
            name = store.ensure_current(1, now)
        out = alerts_for_flows(rng, probe, flows_alerts, config, write_packets=False)
        for doc, _ts in out:
            doc["capture_file"] = pcapstore.alert_path(name)
        return out
    return alerts_for_flows(rng, probe, flows_alerts, config)
