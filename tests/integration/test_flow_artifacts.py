"""alert_pcap's flow events and extracted files, through ansible-playbook against the emulator over HTTPS."""

import hashlib
import json
import os

import pytest

from runner import TOKEN_MARKER, Emulator, run_tasks


@pytest.fixture(scope="module")
def site():
    with Emulator(tls=True, seed=15, probes=1, templates=1, alerts=10, flows=10, pcap="all",
                  token=TOKEN_MARKER) as emulator:
        yield emulator


def fetch(tmp_path, emulator, alert, dest, **options):
    return run_tasks(tmp_path, emulator.env(), [{"name": "Fetch", "register": "pull", "stamus.scs.alert_pcap": dict(
        {"alerts": [alert], "dest": str(dest)}, **options)}])


def evidence(dest, alert):
    directory = dest / alert["host"]
    return directory, json.loads((directory / ("%d.json" % alert["flow_id"])).read_text())


def test_events_and_files_are_saved_hashed_and_listed_then_idempotent(tmp_path, emu):
    alert, events, info = emu.stored_http_alert()
    dest = tmp_path / "evidence"
    emu.clear_requests()
    run = fetch(tmp_path, emu, alert, dest, files=True)
    result = run["pull"]
    asked = [entry for entry in emu.requests() if "/rules/filestore/" in entry["path"]]
    assert [entry["path"].rsplit("/", 2)[-2] for entry in asked] == ["status", "retrieve", "download"]
    assert all("host=probe-01" in entry["query"] for entry in asked)
    assert result["summary"]["fetched"] == 1 and result["summary"]["files"]["fetched"] == 1, result
    assert result["summary"]["flow_events"] == {"fetched": 1, "failed": 0}
    directory, manifest = evidence(dest, alert)
    saved = directory / ("%d.events.json" % alert["flow_id"])
    assert json.loads(saved.read_text()) == events
    assert saved.read_text() == json.dumps(events, sort_keys=True, indent=2) + "\n"
    member = manifest["flow_events"]
    assert member["file"] == saved.name and member["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert member["types"] == {key: len(value) for key, value in events.items()} and member["truncated"] is False
    kept = directory / ("%d.files" % alert["flow_id"]) / info["sha256"]
    download = emu.rest("GET", "/rest/rules/filestore/%s/download/" % info["sha256"])
    assert kept.read_bytes() == download.content and hashlib.sha256(kept.read_bytes()).hexdigest() == info["sha256"]
    assert manifest["files"] == [{"file": "%d.files/%s" % (alert["flow_id"], info["sha256"]), "sha256": info["sha256"],
                                  "size": info["size"], "filename": info["filename"], "outcome": "fetched"}]
    assert list(manifest)[0] == "alerts" and TOKEN_MARKER not in run.stdout + run.stderr

    emu.clear_requests()
    again = fetch(tmp_path, emu, alert, dest, files=True)["pull"]
    assert again["changed"] is False and again["summary"]["present"] == 1
    assert not [entry for entry in emu.requests() if "filestore" in entry["path"] or "events" in entry["path"]]

    kept.write_bytes(b"tampered")  # an artifact that no longer matches: fetched again, manifest rewritten
    repaired = fetch(tmp_path, emu, alert, dest, files=True)["pull"]
    assert repaired["changed"] is True and repaired["summary"]["present"] == 1
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == info["sha256"]


def test_flow_events_false_writes_none_and_files_default_off(tmp_path, emu):
    alert, _events, _info = emu.stored_http_alert()
    dest = tmp_path / "evidence"
    emu.clear_requests()
    result = fetch(tmp_path, emu, alert, dest, flow_events=False)["pull"]
    directory, manifest = evidence(dest, alert)
    assert sorted(os.listdir(directory)) == ["%d.json" % alert["flow_id"], "%d.pcap" % alert["flow_id"]]
    assert "flow_events" not in manifest and "files" not in manifest
    assert result["summary"]["flow_events"]["fetched"] == 0
    assert not [entry for entry in emu.requests() if "events_from_flow_id" in entry["path"]]
    # Asked for later: the present flow gets its events, and its manifest lists them.
    later = fetch(tmp_path, emu, alert, dest)["pull"]
    assert later["changed"] is True and later["summary"]["present"] == 1
    assert evidence(dest, alert)[1]["flow_events"]["file"] == "%d.events.json" % alert["flow_id"]


def test_file_over_max_file_size_is_refused_cleanly(tmp_path, emu):
    alert, _events, info = emu.stored_http_alert()
    dest = tmp_path / "evidence"
    result = fetch(tmp_path, emu, alert, dest, files=True, max_file_size=info["size"] - 1)["pull"]
    assert result["summary"]["fetched"] == 1 and result["summary"]["files"]["too_large"] == 1
    directory, manifest = evidence(dest, alert)
    assert not (directory / ("%d.files" % alert["flow_id"])).exists()
    assert manifest["files"][0]["outcome"] == "too_large" and "max_file_size" in manifest["files"][0]["message"]
    assert "file" not in manifest["files"][0]
    assert (directory / ("%d.pcap" % alert["flow_id"])).exists()
    assert "max_file_size" in result["results"][0]["message"]
