import json

import pytest

from ansible_collections.stamus.scs.plugins.module_utils._evidence_run import EvidenceRun
from ansible_collections.stamus.scs.plugins.module_utils._evidence import (
    MANIFEST_SCHEMA,
    FlowEvidence,
    Rejected,
    five_tuple_of,
    flow_key,
    manifest_chunks,
    unique_alerts,
)
from ansible_collections.stamus.scs.plugins.module_utils._files import sha256_file


def alert(alert_id, flow_id=7, host="probe-01", capture=True, ts="2026-05-02T10:00:00Z"):
    doc = {"_id": alert_id, "host": host, "flow_id": flow_id, "@timestamp": ts, "src_ip": "10.0.0.1", "src_port": 1234,
           "dest_ip": "10.0.0.2", "dest_port": 80, "proto": "TCP"}
    if capture:
        doc["capture_file"] = "/var/log/suricata/fpc/log-1-1.pcap"
    return doc


def test_alerts_of_one_flow_share_one_pcap(tmp_path):
    keys = [flow_key(doc)[1] for doc in (alert("a"), alert("b"), alert("c", flow_id=8), alert("d", host="probe-02"))]
    assert keys == [("probe-01", 7), ("probe-01", 7), ("probe-01", 8), ("probe-02", 7)]
    flow = FlowEvidence(str(tmp_path), "probe-01", 7)
    assert flow.pcap_path == str(tmp_path / "probe-01" / "7.pcap")
    assert flow.manifest_path == str(tmp_path / "probe-01" / "7.json")


def test_unusable_alerts_are_rejected_with_a_reason():
    reasons = []
    for bad in ({"host": "p"}, alert("x", flow_id="12"), alert("y", host=".."), alert("z", host="a/b"), "not a dict"):
        with pytest.raises(Rejected) as info:
            flow_key(bad)
        reasons.append(str(info.value))
    reasons = " | ".join(reasons)
    assert "has no _id" in reasons and "no valid flow_id" in reasons and "cannot be used as a directory name" in reasons


def test_probe_name_with_a_line_break_is_no_directory_name():
    for host in ("probe-01\n", "probe-01\r\n"):
        with pytest.raises(Rejected, match="cannot be used as a directory name"):
            flow_key(alert("a", host=host))
    assert flow_key(alert("c"))[1] == ("probe-01", 7)


def test_source_alert_is_the_earliest_with_a_capture_file(tmp_path):
    flow = FlowEvidence(str(tmp_path), "probe-01", 7)
    for doc in (alert("late", ts="2026-05-02T10:05:00Z"), alert("none", capture=False, ts="2026-05-02T09:00:00Z"),
                alert("early", ts="2026-05-02T10:01:00Z"), alert("later", ts="2026-05-02T10:02:00Z")):
        flow.consider_source(doc)
    assert flow.source_id == "early"
    other = FlowEvidence(str(tmp_path), "probe-01", 8)
    other.consider_source(alert("none", capture=False))
    assert other.source_id is None


def test_five_tuple_is_dropped_when_malformed():
    assert five_tuple_of(alert("a"))["dest_port"] == 80
    assert five_tuple_of(dict(alert("a"), src_ip="not-an-ip")) is None


def test_existing_pcap_counts_only_when_its_hash_matches(tmp_path):
    flow = FlowEvidence(str(tmp_path), "probe-01", 7)
    (tmp_path / "probe-01").mkdir()
    (tmp_path / "probe-01" / "7.pcap").write_bytes(b"pcap bytes")
    manifest = {"schema": MANIFEST_SCHEMA, "pcap": {"sha256": sha256_file(flow.pcap_path)}}
    flow.write_manifest(manifest, [alert("a")], 0o640)
    assert flow.verified_existing()["pcap"]["sha256"] == manifest["pcap"]["sha256"]
    (tmp_path / "probe-01" / "7.pcap").write_bytes(b"tampered")
    assert flow.verified_existing() is None
    (tmp_path / "probe-01" / "7.json").write_text("{not json")
    assert flow.verified_existing() is None


def test_manifest_is_written_an_alert_at_a_time_as_json_dumps_writes_it():
    manifest = {"schema": MANIFEST_SCHEMA, "probe": "probe-01", "pcap": {"sha256": "ab", "flow_encapsulation": []},
                "steps": {}, "recorded": "now"}
    for alerts in ([], [alert("a")], [alert("a%d" % index, ts="é\n%d" % index) for index in 300 * [1]]):
        expected = json.dumps(dict(manifest, alerts=alerts), indent=2, sort_keys=True) + "\n"
        assert b"".join(manifest_chunks(manifest, iter(alerts))).decode("utf-8") == expected


def test_new_alerts_of_a_known_flow_are_added_to_its_manifest(tmp_path):
    flow = FlowEvidence(str(tmp_path), "probe-01", 7)
    (tmp_path / "probe-01").mkdir()
    flow.write_manifest({"schema": MANIFEST_SCHEMA, "recorded": "then"}, [alert("a")], 0o640)
    assert flow.merge(lambda: [alert("a"), alert("b"), alert("b")], 0o640) == 1
    written = json.loads((tmp_path / "probe-01" / "7.json").read_text())
    assert [doc["_id"] for doc in written["alerts"]] == ["a", "b"] and written["recorded"] != "then"
    assert flow.merge(lambda: [alert("b"), alert("a")], 0o640) == 0


def test_a_manifest_larger_than_one_document_is_merged_in_bounded_pieces(tmp_path):
    """A flow's manifest grows with its alerts: one of several MiB is read member by member, alert by alert."""
    flow = FlowEvidence(str(tmp_path), "probe-01", 7)
    (tmp_path / "probe-01").mkdir()
    padding = "x" * 2000
    many = [dict(alert("old%05d" % index), padding=padding) for index in range(1500)]
    flow.write_manifest({"schema": MANIFEST_SCHEMA, "pcap": {"sha256": "ab"}}, many, 0o640)
    assert (tmp_path / "probe-01" / "7.json").stat().st_size > 3 * (1 << 20)
    assert flow.read_manifest()["pcap"] == {"sha256": "ab"}
    assert flow.merge(lambda: [alert("old00001"), alert("new")], 0o640) == 1
    written = json.loads((tmp_path / "probe-01" / "7.json").read_text())
    assert len(written["alerts"]) == 1501 and written["alerts"][-1]["_id"] == "new"


class CountingId(str):
    """An alert id that counts how often it is compared: deduplicating with a list compares each id with every one
    before it, with a set only the rare ones that share a hash."""

    comparisons = 0

    def __eq__(self, other):
        CountingId.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_twenty_thousand_alerts_of_one_flow_are_deduplicated_in_linear_work():
    CountingId.comparisons = 0
    alerts = [alert(CountingId("id%05d" % index)) for index in range(20000)]
    seen = set()
    unique = list(unique_alerts(alerts + alerts[:100], seen))
    assert len(unique) == 20000 and len(seen) == 20000
    assert CountingId.comparisons <= 2 * len(alerts), CountingId.comparisons


def test_twenty_thousand_alerts_of_one_flow_make_one_flow_in_one_pass(tmp_path):
    """The whole run in check mode (no call to SCS): 20,000 alerts of one flow, 500 of them listed twice."""
    alerts = [alert("id%05d" % index, ts="2026-05-02T10:%02d:%02dZ" % (index // 60 % 60, index % 60))
              for index in range(20000)]
    run = EvidenceRun(None, str(tmp_path / "evidence"), check_mode=True, results="none")
    result = run.run(alerts + alerts[:500])
    assert result["summary"]["alerts"] == 20000 and result["summary"]["flows"] == 1
    assert result["summary"]["fetch"] == 20000 and result["results"] == [] and result["changed"] is True
    assert not (tmp_path / "evidence").exists()
