"""Tunnelled flows (mirrored VXLAN, Geneve, GRE, ERSPAN, IP-in-IP, MPLS, PPPoE, QinQ) through real playbooks over HTTPS.

Suricata alerts with the inner 5-tuple while the pcap holds the outer frames: the pcap must be filed as the flow's
(outcome fetched, flow_present true), not as another capture (flow_absent).
"""
# pylint: disable=redefined-outer-name

import hashlib
import json

import pytest

from runner import TOKEN_MARKER, Emulator, run_tasks

ENCAPSULATIONS = {"vxlan": ["vxlan"], "geneve": ["geneve"], "gre": ["gre"], "erspan": ["gre", "erspan"],
                  "ip-in-ip": ["ip-in-ip"], "mpls": ["mpls"], "pppoe": ["pppoe"], "qinq": []}


@pytest.fixture(scope="module")
def mirrored():
    """An emulator whose probes keep pcaps, with one new alert per encapsulation on probe-01 (a mirror target)."""
    with Emulator(tls=True, seed=41, probes=2, templates=1, alerts=20, flows=10, pcap="all", token=TOKEN_MARKER,
                  extra_args=("--pcap-total-size", "100000000")) as emulator:
        alerts = {kind: emulator.add_alerts(probe="probe-01", count=1, encapsulation=kind)[0] for kind in ENCAPSULATIONS}
        yield emulator, alerts


def test_alert_pcap_files_tunnelled_flows_as_fetched_with_their_flow(tmp_path, mirrored):
    emulator, alerts = mirrored
    by_id = {alert["_id"]: kind for kind, alert in alerts.items()}
    expected = {alert["_id"]: emulator.expected_pcap(alert["_id"]) for alert in alerts.values()}
    dest = tmp_path / "evidence"
    run = run_tasks(tmp_path, emulator.env(), [
        {"name": "Pcaps of tunnelled alerts, refusing any without the alert's flow", "register": "pull",
         "stamus.scs.alert_pcap": {"alert_ids": sorted(by_id), "dest": str(dest), "on_flow_absent": "fail"}},
    ])
    result = run["pull"]
    assert result["summary"]["fetched"] == len(alerts) and result["summary"]["flow_absent"] == 0, result
    for entry in result["results"]:
        kind = by_id[entry["alert_id"]]
        assert entry["outcome"] == "fetched" and entry["flow_present"] is True, entry
        assert entry["flow_encapsulation"] == ENCAPSULATIONS[kind], entry
        data = (dest / "probe-01" / ("%d.pcap" % entry["flow_id"])).read_bytes()
        assert data == expected[entry["alert_id"]] and len(data) > 24
        manifest = json.loads((dest / "probe-01" / ("%d.json" % entry["flow_id"])).read_text())
        assert manifest["pcap"]["flow_present"] is True and manifest["pcap"]["flow_encapsulation"] == ENCAPSULATIONS[kind]
        assert manifest["pcap"]["sha256"] == hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert manifest["alerts"][0].get("tunnel") == alerts[kind].get("tunnel")
    assert TOKEN_MARKER not in run.stdout + run.stderr


def test_pcap_download_reports_the_encapsulation_of_a_mirrored_flow(tmp_path, mirrored):
    emulator, _alerts = mirrored
    [alert] = emulator.add_alerts(probe="probe-02", count=1, encapsulation="vxlan")
    run = run_tasks(tmp_path, emulator.env(), [
        {"name": "Upload", "stamus.scs.pcap_upload": {"alert": alert}, "register": "upload"},
        {"name": "Extract", "stamus.scs.pcap_extract": {"filename": "{{ upload.filename }}", "probe": "{{ upload.probe }}"}},
        {"name": "Retrieve", "stamus.scs.pcap_retrieve": {"filename": "{{ upload.filename }}", "probe": "{{ upload.probe }}"}},
        {"name": "Download", "register": "download",
         "stamus.scs.pcap_download": {"filename": "{{ upload.filename }}", "dest": str(tmp_path), "alert": alert}},
    ])
    download = run["download"]
    assert (tmp_path / ("%s.pcap" % alert["_id"])).read_bytes() == emulator.expected_pcap(alert["_id"])
    assert download["pcap"]["flow_present"] is True and download["pcap"]["flow_encapsulation"] == ["vxlan"]
    assert download["pcap"]["flow_packets"] == download["pcap"]["packets"] > 0
    assert "none of the alert's 5-tuple" not in run.stdout + run.stderr
