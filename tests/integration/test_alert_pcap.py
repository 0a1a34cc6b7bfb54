"""Alert to pcap against the emulator over HTTPS, as real playbooks: stamus.scs.alert_pcap and the step modules."""

import collections
import hashlib
import json
import os

import pytest

from runner import TOKEN_MARKER, Emulator, run_tasks

NO_ROTATION = ("--pcap-total-size", "100000000")
DOWNLOAD = "/rest/rules/filestore_pcap/%s/download/"


@pytest.fixture(scope="module")
def fleet():
    """200 alerts over 120 flows on 3 probes, all with conditional pcap and nothing rotated yet."""
    with Emulator(tls=True, seed=33, probes=3, templates=1, alerts=200, flows=120, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emulator:
        yield emulator


@pytest.fixture
def fresh_fleet(fleet):
    fleet.clear_faults()
    fleet.clear_requests()
    yield fleet
    fleet.clear_faults()


def files_under(root):
    return sorted(os.path.relpath(os.path.join(path, name), root) for path, _dirs, names in os.walk(root) for name in names)


def single_alert_flow(emulator):
    """An alert that is alone on its flow, with its capture file."""
    alerts = emulator.alerts()
    per_flow = collections.Counter((alert["host"], alert["flow_id"]) for alert in alerts)
    return next(alert for alert in alerts if alert.get("capture_file") and per_flow[(alert["host"], alert["flow_id"])] == 1)


def test_pcap_is_exactly_the_flow_and_byte_identical(tmp_path, fresh_fleet):
    alert = single_alert_flow(fresh_fleet)
    expected = fresh_fleet.expected_pcap(alert["_id"])
    dest = tmp_path / "evidence"
    run = run_tasks(tmp_path, fresh_fleet.env(), [
        {"name": "Fetch one alert", "stamus.scs.alert_pcap": {"alerts": [alert], "dest": str(dest)}, "register": "one"},
    ], verbosity=3)
    result = run["one"]
    assert result["changed"] and result["summary"]["fetched"] == 1, result
    pcap = dest / alert["host"] / ("%d.pcap" % alert["flow_id"])
    data = pcap.read_bytes()
    assert data == expected and len(data) > 24
    entry = result["results"][0]
    assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["flow_present"] is True and entry["packets"] > 0
    assert oct(pcap.stat().st_mode & 0o777) == "0o640"
    manifest = json.loads((dest / alert["host"] / ("%d.json" % alert["flow_id"])).read_text())
    assert manifest["pcap"]["sha256"] == entry["sha256"] and manifest["alerts"][0]["_id"] == alert["_id"]
    assert manifest["source"]["scs_url"] == fresh_fleet.url + "/rest/" and manifest["source"]["scs_version"]
    assert set(manifest["steps"]) == {"upload", "extract", "retrieve", "download"}
    assert manifest["collected_by"]["collection"].startswith("stamus.scs ")
    assert TOKEN_MARKER not in run.stdout + run.stderr + json.dumps(manifest)

    rerun = run_tasks(tmp_path, fresh_fleet.env(), [
        {"name": "Again", "stamus.scs.alert_pcap": {"alerts": [alert], "dest": str(dest)}, "register": "again"},
        {"name": "Forced", "stamus.scs.alert_pcap": {"alerts": [alert], "dest": str(dest), "force": True}, "register": "forced"},
    ])
    assert rerun["again"]["changed"] is False and rerun["again"]["summary"]["present"] == 1
    assert rerun["forced"]["changed"] is True and rerun["forced"]["summary"]["fetched"] == 1
    assert pcap.read_bytes() == expected


def test_200_alerts_over_120_flows_in_one_task_then_nothing_to_do(tmp_path, fresh_fleet):
    dest = tmp_path / "evidence"
    task = {"name": "Every alert", "stamus.scs.alert_pcap": {"since": "30d", "dest": str(dest), "workers": 4}, "register": "pull"}
    first = run_tasks(tmp_path, fresh_fleet.env(), [task])["pull"]
    assert first["summary"]["alerts"] == 200 and first["summary"]["flows"] == 120
    assert first["summary"]["fetched"] == 200 and first["summary"]["failed"] == 0
    names = files_under(dest)
    assert len([name for name in names if name.endswith(".pcap")]) == 120
    assert len([name for name in names if name.endswith(".events.json")]) == 120  # flow_events: true by default
    assert len([name for name in names if name.endswith(".json")]) == 240 and len(names) == 360
    for entry in first["results"]:
        assert entry["pcap"] == str(dest / entry["probe"] / ("%d.pcap" % entry["flow_id"]))
    downloads = [entry for entry in fresh_fleet.requests() if entry["path"].endswith("/download/")]
    assert len(downloads) == 120

    # A partial loss: two pcaps gone, one tampered with. The rerun fetches exactly those three flows.
    pcaps = sorted(name for name in names if name.endswith(".pcap"))
    (dest / pcaps[0]).unlink()
    (dest / pcaps[1]).unlink()
    (dest / pcaps[2]).write_bytes(b"tampered")
    fresh_fleet.clear_requests()
    second = run_tasks(tmp_path, fresh_fleet.env(), [task])["pull"]
    refetched = {entry["pcap"] for entry in second["results"] if entry["outcome"] == "fetched"}
    assert second["changed"] is True and refetched == {str(dest / name) for name in pcaps[:3]}
    assert len([entry for entry in fresh_fleet.requests() if entry["path"].endswith("/download/")]) == 3

    fresh_fleet.clear_requests()
    third = run_tasks(tmp_path, fresh_fleet.env(), [task])["pull"]
    assert third["changed"] is False and third["summary"]["present"] == 200
    assert not [entry for entry in fresh_fleet.requests() if "filestore_pcap" in entry["path"]]


def test_each_failure_has_its_own_outcome_and_leaves_nothing_partial(tmp_path):
    with Emulator(tls=True, seed=8, probes=3, templates=2, alerts=30, flows=20, pcap="mixed") as scs:
        alerts = scs.alerts()
        no_capture = next(alert for alert in alerts if not alert.get("capture_file"))
        captured = [alert for alert in alerts if alert.get("capture_file")]
        probe = captured[0]["host"]
        other = next(alert["host"] for alert in captured if alert["host"] != probe)
        empty = scs.add_alerts(probe=other, count=1, kind="no_packets")[0]
        ghost = dict(captured[1], host="ghost-probe")
        rotated_victim = sorted((a for a in captured if a["host"] == probe), key=lambda a: a["capture_file"])[0]
        scs.rotate(probe, files=100)
        dest = tmp_path / "evidence"
        run = run_tasks(tmp_path, scs.env(), [
            {"name": "Mixed bag", "stamus.scs.alert_pcap": {
                "alerts": [no_capture, empty, ghost, rotated_victim], "dest": str(dest), "fail_on": "none"}, "register": "mixed"},
        ])
        outcomes = {entry["alert_id"]: entry for entry in run["mixed"]["results"]}
        assert outcomes[no_capture["_id"]]["outcome"] == "no_capture"
        assert outcomes[empty["_id"]]["outcome"] == "no_packets"
        assert outcomes[rotated_victim["_id"]]["outcome"] == "rotated" and "retrying cannot help" in outcomes[rotated_victim["_id"]]["message"]
        assert outcomes[ghost["_id"]]["outcome"] == "failed" and "ghost-probe" in outcomes[ghost["_id"]]["message"]
        assert any("header-only" in warning for warning in run["mixed"]["warnings"])
        assert files_under(dest) == []

        scs.inject_fault(method="POST", path="/extract_pcap/$", kind="html500", count=-1)
        fresh = next(alert for alert in scs.alerts() if alert.get("capture_file") and alert["host"] == other)
        run = run_tasks(tmp_path, scs.env(), [
            {"name": "Extraction broken", "stamus.scs.alert_pcap": {"alerts": [fresh], "dest": str(dest)}, "register": "broken"},
            {"name": "Bad token", "stamus.scs.alert_pcap": {"alerts": [fresh], "dest": str(dest), "scs_token": "tok-nope-0000"},
             "register": "denied"},
        ])
        broken = run["broken"]
        assert broken["failed"] and broken["results"][0]["outcome"] == "failed" and "HTTP 500" in broken["msg"]
        # Nothing was fetched, so there are no partial results that fail_on=none would accept: no such advice.
        assert "Server Error (500)" in broken["msg"] and "fail_on=none" not in broken["msg"]
        assert run["denied"]["failed"] and "refused the API token" in run["denied"]["msg"]
        assert files_under(dest) == []


def test_reset_mid_download_reruns_the_chain(tmp_path, fresh_fleet):
    alert = single_alert_flow(fresh_fleet)
    fresh_fleet.inject_fault(method="GET", path="/download/$", kind="reset_mid_body", count=1)
    dest = tmp_path / "evidence"
    run = run_tasks(tmp_path, fresh_fleet.env(), [
        {"name": "Through a reset", "stamus.scs.alert_pcap": {"alerts": [alert], "dest": str(dest)}, "register": "reset"},
    ])
    assert run["reset"]["summary"]["fetched"] == 1, run["reset"]
    uploads = [entry for entry in fresh_fleet.requests() if entry["path"].endswith("/upload/")]
    downloads = [entry for entry in fresh_fleet.requests() if entry["path"].endswith("/download/")]
    assert len(uploads) == 2 and len(downloads) == 2
    assert files_under(dest) == sorted("%s/%d.%s" % (alert["host"], alert["flow_id"], kind) for kind in ("json", "pcap", "events.json"))
    assert (dest / alert["host"] / ("%d.pcap" % alert["flow_id"])).read_bytes() == fresh_fleet.expected_pcap(alert["_id"])


def test_step_modules_chain_and_check_mode(tmp_path, fresh_fleet):
    alert = single_alert_flow(fresh_fleet)
    steps = [
        {"name": "Upload", "stamus.scs.pcap_upload": {"alert": alert}, "register": "upload"},
        {"name": "Extract", "stamus.scs.pcap_extract": {"filename": "{{ upload.filename }}", "probe": "{{ upload.probe }}"},
         "register": "extract"},
        {"name": "Retrieve", "stamus.scs.pcap_retrieve": {"filename": "{{ upload.filename }}", "probe": "{{ upload.probe }}"},
         "register": "retrieve"},
        {"name": "Download", "register": "download",
         "stamus.scs.pcap_download": {"filename": "{{ upload.filename }}", "dest": str(tmp_path), "alert": alert}},
    ]
    checked = run_tasks(tmp_path, fresh_fleet.env(), steps, check=True)
    assert all(checked[name]["changed"] and not checked[name].get("failed") for name in ("upload", "extract", "retrieve", "download"))
    assert not [entry for entry in fresh_fleet.requests() if "filestore_pcap" in entry["path"]]

    run = run_tasks(tmp_path, fresh_fleet.env(), steps)
    assert run["extract"]["response"]["extraction"] == "done" and run["retrieve"]["response"]["retrieve"] == "done"
    download = run["download"]
    path = tmp_path / ("%s.pcap" % alert["_id"])
    assert download["path"] == str(path) and path.read_bytes() == fresh_fleet.expected_pcap(alert["_id"])
    assert download["pcap"]["flow_present"] is True and download["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()

    download_again = {"filename": alert["_id"], "dest": str(tmp_path)}
    again = run_tasks(tmp_path, fresh_fleet.env(), [
        {"name": "Download again", "stamus.scs.pcap_download": download_again, "register": "again"},
        {"name": "Force it", "stamus.scs.pcap_download": dict(download_again, force=True), "register": "forced"},
    ])
    assert again["again"]["changed"] is False and "force=true" in again["again"]["msg"]
    assert again["forced"]["failed"] and "HTTP 404" in again["forced"]["msg"]  # one-shot: served once
    assert path.read_bytes() == fresh_fleet.expected_pcap(alert["_id"])


def test_step_errors_are_clear(tmp_path, fresh_fleet):
    run = run_tasks(tmp_path, fresh_fleet.env(), [
        {"name": "No _id", "stamus.scs.pcap_upload": {"alert": {"host": "probe-01"}}, "register": "no_id"},
        {"name": "Traversal", "stamus.scs.pcap_extract": {"filename": "../../etc", "probe": "probe-01"}, "register": "traversal"},
        {"name": "Never uploaded", "stamus.scs.pcap_extract": {"filename": "neverUploaded1", "probe": "probe-01"},
         "register": "missing"},
    ])
    assert "has no _id" in run["no_id"]["msg"]
    assert "must match" in run["traversal"]["msg"]
    assert run["missing"]["failed"] and "Extract of pcap neverUploaded1 on probe probe-01 failed" in run["missing"]["msg"]
    assert [entry["path"] for entry in fresh_fleet.requests()] == ["/rest/rules/filestore_pcap/neverUploaded1/extract_pcap/"]
