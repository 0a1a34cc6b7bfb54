"""alert_pcap annotated=true against the emulator over HTTPS, as real playbooks: the annotated pcapng beside the
untouched pcap, read back with dpkt's pcapng blocks (and tshark when installed)."""

import hashlib
import json
import shutil
import subprocess

import pytest

from pcapng_read import read_back
from runner import TOKEN_MARKER, Emulator, run_tasks

NO_ROTATION = ("--pcap-total-size", "100000000")


@pytest.fixture(scope="module")
def scs():
    with Emulator(tls=True, seed=151, probes=1, templates=1, alerts=20, flows=12, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emulator:
        yield emulator


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def packet_comments(path):
    """The comments of each packet, in order, and the section comments."""
    sections, _interfaces, packets = read_back(path)
    return [packet[4] for packet in packets], [text for comments in sections for text in comments]


def fetch(tmp_path, scs, alerts, dest, check=False, **options):
    task = {"name": "Fetch", "stamus.scs.alert_pcap": dict({"alerts": alerts, "dest": str(dest), "annotated": True},
                                                           **options), "register": "pull"}
    run = run_tasks(tmp_path, scs.env(), [task], check=check)
    assert TOKEN_MARKER not in run.stdout + run.stderr
    return run["pull"]


def test_annotated_copy_names_each_alert_and_follows_merges(tmp_path, scs):
    alerts = scs.add_alerts(probe="probe-01", count=3, kind="same_flow")
    first, later = alerts[:1], alerts[1:]
    dest = tmp_path / "evidence"
    flow_dir = dest / "probe-01"
    pcap = flow_dir / ("%d.pcap" % first[0]["flow_id"])
    copy = flow_dir / ("%d.annotated.pcapng" % first[0]["flow_id"])
    manifest_path = flow_dir / ("%d.json" % first[0]["flow_id"])

    checked = fetch(tmp_path, scs, first, dest, check=True)
    assert checked["summary"]["fetch"] == 1 and not dest.exists()

    result = fetch(tmp_path, scs, first, dest)
    assert result["changed"] and result["summary"]["fetched"] == 1, result
    original = sha256(pcap)
    assert original == hashlib.sha256(scs.expected_pcap(first[0]["_id"])).hexdigest()
    manifest = json.loads(manifest_path.read_text())
    assert manifest["pcap"]["sha256"] == original
    assert manifest["annotated"] == {"file": copy.name, "sha256": sha256(copy), "size": copy.stat().st_size,
                                     "comments": 1, "nearest": 0, "unmatched": 0}
    assert oct(copy.stat().st_mode & 0o777) == "0o640"
    packets, sections = packet_comments(copy)
    commented = [comments for comments in packets if comments]
    assert len(commented) == 1 and "| id %s" % first[0]["_id"] in commented[0][0]
    assert "[1:%d:" % first[0]["alert"]["signature_id"] in commented[0][0]
    assert "%s (sha256 %s)" % (pcap.name, original) in sections[0] and manifest_path.name in sections[0]

    again = fetch(tmp_path, scs, first, dest)
    assert again["changed"] is False and again["summary"]["present"] == 1
    assert json.loads(manifest_path.read_text())["annotated"]["sha256"] == manifest["annotated"]["sha256"]

    merged = fetch(tmp_path, scs, alerts, dest)
    assert merged["changed"] is True and merged["summary"]["present"] == 3, merged
    assert sha256(pcap) == original
    manifest = json.loads(manifest_path.read_text())
    assert manifest["pcap"]["sha256"] == original and len(manifest["alerts"]) == 3
    assert manifest["annotated"]["sha256"] == sha256(copy) and manifest["annotated"]["comments"] == 3
    texts = [text for comments, _s in [packet_comments(copy)] for packet in comments for text in packet]
    assert sorted(text.rsplit("| id ", 1)[1] for text in texts) == sorted(alert["_id"] for alert in alerts)
    assert all("nearest" not in text for text in texts)

    settled = fetch(tmp_path, scs, alerts, dest)
    assert settled["changed"] is False and json.loads(manifest_path.read_text()) == manifest

    if shutil.which("tshark"):
        shown = subprocess.run(["tshark", "-r", str(copy), "-Y", "frame.comment", "-T", "fields", "-e", "frame.comment"],
                               check=True, capture_output=True, text=True).stdout
        assert all(alert["_id"] in shown for alert in later + first)


def test_present_flow_without_a_copy_gets_one(tmp_path, scs):
    alert = scs.add_alerts(probe="probe-01", count=1)[0]
    dest = tmp_path / "evidence"
    plain = fetch(tmp_path, scs, [alert], dest, annotated=False)
    assert plain["summary"]["fetched"] == 1
    copy = dest / "probe-01" / ("%d.annotated.pcapng" % alert["flow_id"])
    manifest_path = dest / "probe-01" / ("%d.json" % alert["flow_id"])
    assert not copy.exists() and "annotated" not in json.loads(manifest_path.read_text())
    before = sha256(dest / "probe-01" / ("%d.pcap" % alert["flow_id"]))

    added = fetch(tmp_path, scs, [alert], dest)
    assert added["changed"] is True and added["summary"]["present"] == 1
    manifest = json.loads(manifest_path.read_text())
    assert manifest["annotated"]["sha256"] == sha256(copy) and manifest["annotated"]["comments"] == 1
    assert manifest["pcap"]["sha256"] == before == sha256(dest / "probe-01" / ("%d.pcap" % alert["flow_id"]))

    copy.unlink()  # a copy deleted by hand is written again
    again = fetch(tmp_path, scs, [alert], dest)
    assert again["changed"] is True and sha256(copy) == manifest["annotated"]["sha256"]


@pytest.mark.parametrize("encapsulation", ["vxlan", "gre"])
def test_tunnelled_alert_commented_on_its_packet(tmp_path, scs, encapsulation):
    alert = scs.add_alerts(probe="probe-01", count=1, encapsulation=encapsulation)[0]
    dest = tmp_path / "evidence"
    result = fetch(tmp_path, scs, [alert], dest)
    assert result["summary"]["fetched"] == 1 and result["results"][0]["flow_encapsulation"] == [encapsulation]
    manifest = json.loads((dest / "probe-01" / ("%d.json" % alert["flow_id"])).read_text())
    assert (manifest["annotated"]["comments"], manifest["annotated"]["unmatched"]) == (1, 0)


def test_role_passes_annotated_through(tmp_path, scs):
    alert = scs.add_alerts(probe="probe-01", count=1)[0]
    dest = tmp_path / "evidence"
    run = run_tasks(tmp_path, scs.env(), [{
        "name": "Role", "ansible.builtin.include_role": {"name": "stamus.scs.pcap_evidence"},
        "vars": {"pcap_evidence_dest": str(dest), "pcap_evidence_alert_ids": [alert["_id"]],
                 "pcap_evidence_annotated": True}}])
    assert run.rc == 0, run.stdout + run.stderr
    copy = dest / "probe-01" / ("%d.annotated.pcapng" % alert["flow_id"])
    packets, _sections = packet_comments(copy)
    assert sum(len(comments) for comments in packets) == 1
