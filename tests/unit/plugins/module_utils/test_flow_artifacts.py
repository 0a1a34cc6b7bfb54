"""The flow's events and extracted files (_flow_events, _filestore, _flow_artifacts) against a fake SCS."""

import hashlib
import json
import os
import types

import pytest

from ansible_collections.stamus.scs.plugins.module_utils import _errors as errors
from ansible_collections.stamus.scs.plugins.module_utils._client import ScsClient
from ansible_collections.stamus.scs.plugins.module_utils._filestore import fetch_file, stored_files
from ansible_collections.stamus.scs.plugins.module_utils._flow_artifacts import ArtifactOptions, FlowArtifacts, discard, missing
from ansible_collections.stamus.scs.plugins.module_utils._flow_events import (
    MAX_EVENTS_BYTES,
    events_params,
    fetch_events,
    save_events,
)

TOKEN = "tok-5c7dd1e2b0e1d9bd0b4f0a1b3c2d4e5f60718293"
EVENTS = "/rest/rules/es/events_from_flow_id/"
BODY = b"MZ\x90\x00 an extracted file " * 50
SHA = hashlib.sha256(BODY).hexdigest()
ALERT = {"_id": "a1", "@timestamp": "2026-05-02T10:00:00.000Z", "host": "probe-01", "flow_id": 42}


def step(sha, name):
    return "/rest/rules/filestore/%s/%s/" % (sha, name)


@pytest.fixture
def client(fake_server):
    return ScsClient("https://scs.example.net", TOKEN, retries=0)


def serve_file(server, sha=SHA, body=BODY, status="available"):
    server.add("GET", step(sha, "status"), json={"status": status})
    server.add("GET", step(sha, "retrieve"), json={"retrieve": "done"})
    server.add("GET", step(sha, "download"), body=body, headers={"Content-Type": "application/octet-stream"})


def events_with(*fileinfos):
    return {"Alert": [{"flow_id": 42}], "Flow": [{"flow": {"pkts_toserver": 3}}],
            "Fileinfo": [{"fileinfo": info} for info in fileinfos]}


def test_events_query_names_the_flow_the_probe_and_a_window_around_the_alert():
    params = events_params(42, "probe-01", ALERT, "keyword")
    assert params["qfilter"] == 'flow_id:42 AND host.keyword:"probe-01"'
    assert params["to_date"] - params["from_date"] == 2 * 24 * 3600 * 1000
    assert "from_date" not in events_params(42, "probe-01", {"@timestamp": "not a date"}, "raw")


def test_events_are_capped_and_checked(client, fake_server):
    fake_server.add("GET", EVENTS, body=b'{"Alert": ["' + b"x" * MAX_EVENTS_BYTES + b'"]}', times=1)
    with pytest.raises(errors.ScsLimitError, match="16 MiB"):
        fetch_events(client, 42, "probe-01", ALERT, "raw")
    fake_server.add("GET", EVENTS, json=[{"event_type": "alert"}], times=1)
    with pytest.raises(errors.ScsProtocolError, match="not an object"):
        fetch_events(client, 42, "probe-01", ALERT, "raw")
    fake_server.add("GET", EVENTS, json={"../x": []}, times=1)
    with pytest.raises(errors.ScsProtocolError):
        fetch_events(client, 42, "probe-01", ALERT, "raw")


def test_events_are_saved_sorted_and_indented_with_their_facts(tmp_path):
    events = {"Http": [{"http": {"url": "/{{ x }}"}}], "Alert": [{"b": 1, "a": 2}] * 99}
    member = save_events(str(tmp_path / "42.events.json"), events, 0o640)
    data = (tmp_path / "42.events.json").read_bytes()
    assert data == (json.dumps(events, sort_keys=True, indent=2) + "\n").encode()
    assert member == {"file": "42.events.json", "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                      "events": 100, "types": {"Http": 1, "Alert": 99}, "truncated": True}


def test_only_stored_files_with_a_real_sha256_are_used():
    wanted = stored_files([{"sha256": SHA, "stored": True, "filename": "a\x1b[2Jb"}, {"sha256": SHA, "stored": True},
                           {"sha256": SHA.upper(), "stored": True}, {"sha256": "f" * 63, "stored": True},
                           {"sha256": "e" * 64, "stored": False}, {"sha256": ["x"], "stored": True}])
    assert [sha for sha, _name, _shown in wanted] == [SHA, None, None, None]
    assert "\x1b" not in wanted[0][1] and wanted[0][1].startswith("a")


def test_file_is_kept_only_when_its_bytes_hash_to_its_name(client, fake_server, tmp_path):
    serve_file(fake_server, body=BODY + b"!")
    dest = tmp_path / SHA
    entry = fetch_file(client, SHA, "probe-01", str(dest), 0o640, 1 << 20, 60)
    assert entry["outcome"] == "failed" and "nothing was kept" in entry["message"]
    assert os.listdir(tmp_path) == []
    fake_server.routes.clear()
    serve_file(fake_server)
    entry = fetch_file(client, SHA, "probe-01", str(dest), 0o640, 1 << 20, 60)
    assert entry == {"sha256": SHA, "size": len(BODY), "outcome": "fetched"} and dest.read_bytes() == BODY
    assert all("host=probe-01" in call.url for call in fake_server.calls)


def test_max_file_size_counts_the_bytes_received_not_the_announced_size(client, fake_server, tmp_path):
    fake_server.add("GET", step(SHA, "status"), json={"status": "available"})
    fake_server.add("GET", step(SHA, "retrieve"), json={"retrieve": "done"})
    # No Content-Length: only the bytes received can tell.
    fake_server.add("GET", step(SHA, "download"), body=BODY, headers={"Transfer-Encoding": "chunked"})
    entry = fetch_file(client, SHA, "probe-01", str(tmp_path / SHA), 0o640, len(BODY) - 1, 60)
    assert entry["outcome"] == "too_large" and "max_file_size" in entry["message"]
    assert os.listdir(tmp_path) == []


def test_status_unknown_and_404_after_available(client, fake_server, tmp_path):
    fake_server.add("GET", step(SHA, "status"), json={"status": "unknown"}, times=1)
    assert fetch_file(client, SHA, "probe-01", str(tmp_path / SHA), 0o640, 1 << 20, 60)["outcome"] == "not_on_probe"
    fake_server.add("GET", step(SHA, "status"), json={"status": "available"})
    fake_server.add("GET", step(SHA, "retrieve"), json={"retrieve": "done"})
    fake_server.add("GET", step(SHA, "download"), status=404, json={"detail": 'Unknown filename "%s"' % SHA})
    entry = fetch_file(client, SHA, "probe-01", str(tmp_path / SHA), 0o640, 1 << 20, 60)
    assert entry["outcome"] == "not_on_probe" and "404" in entry["message"] and os.listdir(tmp_path) == []


def flow_at(tmp_path):
    return types.SimpleNamespace(flow_id=42, probe="probe-01", directory=str(tmp_path))


def test_artifacts_of_a_flow_and_a_hostile_sha256(client, fake_server, tmp_path):
    fake_server.add("GET", "/rest/rules/system_settings/", json={"es_keyword": "keyword"})
    fake_server.add("GET", EVENTS, json=events_with({"sha256": SHA, "stored": True, "filename": "/x.exe"},
                                                    {"sha256": "../../etc/passwd", "stored": True}))
    serve_file(fake_server)
    fetched = FlowArtifacts(ArtifactOptions(files=True), 0o640).fetch(client, flow_at(tmp_path), ALERT)
    files = fetched.members["files"]
    assert files[0] == {"sha256": SHA, "size": len(BODY), "outcome": "fetched", "filename": "/x.exe",
                        "file": "42.files/%s" % SHA}
    assert files[1]["sha256"] is None and files[1]["outcome"] == "failed" and "passwd" in files[1]["message"]
    assert fetched.tally == {"flow_events.fetched": 1, "files.fetched": 1, "files.failed": 1}
    assert sorted(os.listdir(tmp_path)) == ["42.events.json", "42.files"]
    assert os.listdir(tmp_path / "42.files") == [SHA]
    manifest = dict(fetched.members)
    assert not missing(str(tmp_path), 42, manifest, ArtifactOptions(files=True))
    (tmp_path / "42.files" / SHA).write_bytes(b"changed")
    assert missing(str(tmp_path), 42, manifest, ArtifactOptions(files=True))
    assert missing(str(tmp_path), 42, {}, ArtifactOptions())
    assert not missing(str(tmp_path), 42, {}, ArtifactOptions(flow_events=False))


def test_events_failure_keeps_going_and_leaves_nothing(client, fake_server, tmp_path):
    fake_server.add("GET", "/rest/rules/system_settings/", json={"es_keyword": "raw"})
    fake_server.add("GET", EVENTS, status=500, json={"detail": "ES failure: boom"})
    fetched = FlowArtifacts(ArtifactOptions(files=True), 0o640).fetch(client, flow_at(tmp_path), ALERT)
    assert fetched.members["flow_events"]["outcome"] == "failed" and "boom" in fetched.members["flow_events"]["message"]
    assert "files" not in fetched.members and "nor its files" in fetched.problems[0]
    assert fetched.tally == {"flow_events.failed": 1} and os.listdir(tmp_path) == []


def test_refused_token_is_raised(client, fake_server, tmp_path):
    fake_server.add("GET", "/rest/rules/system_settings/", json={"es_keyword": "raw"})
    fake_server.add("GET", EVENTS, status=403, json={"detail": "Invalid token."})
    with pytest.raises(errors.ScsAuthenticationError):
        FlowArtifacts(ArtifactOptions(), 0o640).fetch(client, flow_at(tmp_path), ALERT)


def test_max_file_size_must_be_positive():
    with pytest.raises(errors.ScsConfigError, match="max_file_size"):
        ArtifactOptions(files=True, max_file_size=0)


def test_discarded_artifacts_leave_nothing(client, fake_server, tmp_path):
    fake_server.add("GET", "/rest/rules/system_settings/", json={"es_keyword": "raw"})
    fake_server.add("GET", EVENTS, json=events_with({"sha256": SHA, "stored": True}))
    serve_file(fake_server)
    fetched = FlowArtifacts(ArtifactOptions(files=True), 0o640).fetch(client, flow_at(tmp_path), ALERT)
    assert sorted(os.listdir(tmp_path)) == ["42.events.json", "42.files"]
    discard(str(tmp_path), fetched.members)
    assert os.listdir(tmp_path) == []
