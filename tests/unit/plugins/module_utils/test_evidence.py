import json

from ansible_collections.stamus.scs.plugins.module_utils._evidence import (
    MANIFEST_SCHEMA,
    FlowEvidence,
    five_tuple_of,
    merge_alerts,
    plan_flows,
)
from ansible_collections.stamus.scs.plugins.module_utils._files import sha256_file


def alert(alert_id, flow_id=7, host="probe-01", capture=True, ts="2026-05-02T10:00:00Z"):
    doc = {"_id": alert_id, "host": host, "flow_id": flow_id, "@timestamp": ts, "src_ip": "10.0.0.1", "src_port": 1234,
           "dest_ip": "10.0.0.2", "dest_port": 80, "proto": "TCP"}
    if capture:
        doc["capture_file"] = "/var/log/suricata/fpc/log-1-1.pcap"
    return doc


def test_alerts_of_one_flow_share_one_pcap(tmp_path):
    flows, rejected = plan_flows([alert("a"), alert("b"), alert("a"), alert("c", flow_id=8), alert("d", host="probe-02")],
                                 str(tmp_path))
    assert rejected == []
    assert [(flow.probe, flow.flow_id, flow.alert_ids) for flow in flows] == [
        ("probe-01", 7, ["a", "b"]), ("probe-01", 8, ["c"]), ("probe-02", 7, ["d"])]
    assert flows[0].pcap_path == str(tmp_path / "probe-01" / "7.pcap")
    assert flows[0].manifest_path == str(tmp_path / "probe-01" / "7.json")


def test_unusable_alerts_are_rejected_with_a_reason(tmp_path):
    bad = [{"host": "p"}, alert("x", flow_id="12"), alert("y", host=".."), alert("z", host="a/b"), "not a dict"]
    flows, rejected = plan_flows(bad, str(tmp_path))
    assert flows == [] and len(rejected) == 5
    reasons = " | ".join(reason for _alert, reason in rejected)
    assert "has no _id" in reasons and "no valid flow_id" in reasons and "cannot be used as a directory name" in reasons


def test_probe_name_with_a_line_break_is_no_directory_name(tmp_path):
    flows, rejected = plan_flows([alert("a", host="probe-01\n"), alert("b", host="probe-01\r\n"), alert("c")],
                                 str(tmp_path))
    assert [flow.probe for flow in flows] == ["probe-01"]
    assert [reason for _alert, reason in rejected] == [
        "The probe name 'probe-01\\n' cannot be used as a directory name.",
        "The probe name 'probe-01\\r\\n' cannot be used as a directory name."]


def test_source_alert_is_the_earliest_with_a_capture_file(tmp_path):
    flow = FlowEvidence(str(tmp_path), "probe-01", 7)
    flow.alerts = [alert("late", ts="2026-05-02T10:05:00Z"), alert("none", capture=False, ts="2026-05-02T09:00:00Z"),
                   alert("early", ts="2026-05-02T10:01:00Z")]
    assert flow.source_alert()["_id"] == "early"
    flow.alerts = [alert("none", capture=False)]
    assert flow.source_alert() is None


def test_five_tuple_is_dropped_when_malformed():
    assert five_tuple_of(alert("a"))["dest_port"] == 80
    assert five_tuple_of(dict(alert("a"), src_ip="not-an-ip")) is None


def test_existing_pcap_counts_only_when_its_hash_matches(tmp_path):
    flow = FlowEvidence(str(tmp_path), "probe-01", 7)
    flow.alerts = [alert("a")]
    (tmp_path / "probe-01").mkdir()
    (tmp_path / "probe-01" / "7.pcap").write_bytes(b"pcap bytes")
    manifest = {"schema": MANIFEST_SCHEMA, "alerts": [alert("a")], "pcap": {"sha256": sha256_file(flow.pcap_path)}}
    flow.write_manifest(manifest, 0o640)
    assert flow.verified_existing()["pcap"]["sha256"] == manifest["pcap"]["sha256"]
    (tmp_path / "probe-01" / "7.pcap").write_bytes(b"tampered")
    assert flow.verified_existing() is None
    (tmp_path / "probe-01" / "7.json").write_text("{not json")
    assert flow.verified_existing() is None


def test_new_alerts_of_a_known_flow_are_added_to_its_manifest():
    manifest = {"alerts": [alert("a")], "recorded": "then"}
    flow = FlowEvidence("/x", "probe-01", 7)
    flow.alerts = [alert("a"), alert("b")]
    assert merge_alerts(manifest, flow) is True and [a["_id"] for a in manifest["alerts"]] == ["a", "b"]
    assert merge_alerts(manifest, flow) is False
    assert json.dumps(manifest)
