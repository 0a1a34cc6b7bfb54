"""Flow events and files: what SCS sends beside the pcap (events_from_flow_id, the filestore) is untrusted and
bounded. Each scenario runs alert_pcap through ansible-playbook over HTTPS and checks that the pcap is kept, that
nothing partial is left and that the manifest says what happened."""

import hashlib
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # inputkit, under --import-mode=importlib

from inputkit import files_under  # noqa: E402
from runner import TOKEN_MARKER, Emulator, run_tasks  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Flow events and files"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def site():
    with Emulator(tls=True, seed=151, probes=1, templates=1, alerts=5, flows=5, pcap="all", token=TOKEN_MARKER) as emulator:
        yield emulator


def pull(tmp_path, emulator, alert):
    dest = tmp_path / "evidence"
    run = run_tasks(tmp_path, emulator.env(), [{"name": "Fetch", "register": "pull", "stamus.scs.alert_pcap": {
        "alerts": [alert], "dest": str(dest), "files": True}}])
    result = run["pull"]
    assert not result.get("failed") and result["summary"]["fetched"] == 1, result
    assert TOKEN_MARKER not in run.stdout + run.stderr
    directory = dest / alert["host"]
    manifest = json.loads((directory / ("%d.json" % alert["flow_id"])).read_text())
    pcap = directory / ("%d.pcap" % alert["flow_id"])
    assert manifest["pcap"]["sha256"] == hashlib.sha256(pcap.read_bytes()).hexdigest()  # the pcap is never lost
    return run, result, manifest, files_under(dest)


def test_file_whose_bytes_do_not_match_its_name(tmp_path, emu, ledger):
    alert, _events, info = emu.stored_http_alert()
    emu.configure(filestore_corrupt=True)
    run, result, manifest, names = pull(tmp_path, emu, alert)
    entry = manifest["files"][0]
    assert entry["outcome"] == "failed" and "file" not in entry and info["sha256"] in entry["message"]
    assert not [name for name in names if ".files" in name or name.endswith(".part")]
    assert result["summary"]["files"]["failed"] == 1 and "could not be kept" in run.stdout + run.stderr
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "extracted file whose bytes do not hash to its sha256", "alert_pcap", "clear error",
                  "pcap kept; file listed as failed (%s); nothing left in %d.files/" % (entry["message"][:90], alert["flow_id"]))


def test_huge_events_answer(tmp_path, emu, ledger):
    alert, _events, _info = emu.stored_http_alert()
    emu.inject_fault(path="events_from_flow_id", kind="huge_json", size=24 * MIB, count=-1)
    _run, result, manifest, names = pull(tmp_path, emu, alert)
    member = manifest["flow_events"]
    assert member["outcome"] == "failed" and "16 MiB" in member["message"] and "file" not in member
    assert not [name for name in names if name.endswith((".events.json", ".part")) or ".files" in name]
    assert result["summary"]["flow_events"] == {"fetched": 0, "failed": 1}
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "events_from_flow_id answers 24 MiB of JSON", "alert_pcap", "clear error",
                  "read stopped at the 16 MiB cap; pcap kept, flow_events listed as failed, no events file")


def test_hostile_sha256_and_filename_in_fileinfo(tmp_path, emu, ledger):
    alert, _events, info = emu.stored_http_alert()
    hostile = "evil\x1b[31m\r\nname {{ lookup('env', 'HOME') }} /../../etc/passwd"
    body = {"Alert": [{"flow_id": alert["flow_id"]}], "Fileinfo": [
        {"fileinfo": {"sha256": "../../../../tmp/owned", "stored": True, "filename": "a"}},
        {"fileinfo": {"sha256": info["sha256"].upper(), "stored": True, "filename": "b"}},
        {"fileinfo": {"sha256": info["sha256"] + "\n", "stored": True, "filename": "c"}},
        {"fileinfo": {"sha256": info["sha256"], "stored": True, "filename": hostile}}]}
    emu.inject_fault(path="events_from_flow_id", kind="status", status=200, body=body, count=-1)
    emu.clear_requests()
    _run, result, manifest, names = pull(tmp_path, emu, alert)
    asked = {entry["path"] for entry in emu.requests() if "/rules/filestore/" in entry["path"]}
    assert asked == {"/rest/rules/filestore/%s/%s/" % (info["sha256"], step) for step in ("status", "retrieve", "download")}
    outcomes = [entry["outcome"] for entry in manifest["files"]]
    assert outcomes == ["failed", "failed", "failed", "fetched"] and result["summary"]["files"]["failed"] == 3
    assert all(entry["sha256"] is None for entry in manifest["files"][:3])
    fetched = manifest["files"][3]
    assert fetched["file"] == "%d.files/%s" % (alert["flow_id"], info["sha256"])
    assert not any(ord(char) < 32 for char in fetched["filename"]) and "{{ lookup('env', 'HOME') }}" in fetched["filename"]
    assert sorted(name for name in names if ".files" in name) == ["probe-01/%d.files/%s" % (alert["flow_id"], info["sha256"])]
    assert not os.path.exists("/tmp/owned")
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "fileinfo events with a traversal, uppercase or newline-ended sha256 and a filename with "
                  "controls and a template", "alert_pcap", "survived",
                  "only the 64-hex sha256 reached a URL and a path; the 3 others listed as failed; filename stored "
                  "escaped and never templated")


def test_download_404_after_status_available(tmp_path, emu, ledger):
    alert, _events, info = emu.stored_http_alert()
    emu.inject_fault(path="/rules/filestore/.*/download/", kind="status", status=404, count=-1,
                     body={"detail": "Unknown filename \"%s\"" % info["sha256"]})
    _run, result, manifest, names = pull(tmp_path, emu, alert)
    entry = manifest["files"][0]
    assert entry["outcome"] == "not_on_probe" and "404" in entry["message"] and "file" not in entry
    assert not [name for name in names if ".files" in name or name.endswith(".part")]
    assert result["summary"]["files"]["not_on_probe"] == 1
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "filestore download answers 404 after status said available", "alert_pcap", "clear error",
                  "pcap kept; file listed as not_on_probe with the reason; nothing partial")
