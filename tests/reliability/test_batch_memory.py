"""Scale: alert_pcap over 50,000 alerts in one task, from a query (past SCS's 10,000-result window) and from an
alerts_file, each run as its own process so that its peak resident memory can be measured. Memory must hold counters
per flow, not the alerts: the limit is generous (the benchmark's target is 80 MiB), the point is that it stays flat.
Disruptions: the temporary directory where the alerts wait fills up."""

import collections
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # inputkit, under --import-mode=importlib

from faultkit import crash_signs, tiny_disk  # noqa: E402
from inputkit import files_under, run_module_direct  # noqa: E402
from runner import TOKEN_MARKER, Emulator, apply_now  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Scale"
SEEDED, SEEDED_FLOWS = 50000, 30000
REAL = 10
RSS_LIMIT_MIB = 150
MAX_LISTED = 1000


@pytest.fixture(scope="module")
def emu():
    """50,000 seeded alerts without capture file (conditional pcap off everywhere), then 10 new alerts on probe-01
    once its conditional pcap is applied: they are the ones to fetch."""
    with Emulator(tls=True, seed=74, probes=3, templates=1, alerts=SEEDED, flows=SEEDED_FLOWS, pcap="none",
                  extra_args=("--pcap-total-size", "100000000"), token=TOKEN_MARKER, startup_timeout=600) as emulator:
        [probe] = [entry for entry in emulator.state()["probes"] if entry["name"] == "probe-01"]
        assert emulator.rest("PATCH", "/rest/appliances/probe/%d/" % probe["appliance_id"],
                             json={"conditional_pcap": True}).status_code == 200
        apply_now(emulator, timeout=60)
        emulator.real = emulator.add_alerts(probe="probe-01", count=REAL)
        assert all(alert.get("capture_file") for alert in emulator.real)
        yield emulator


def connection(emulator):
    return {"scs_url": emulator.url, "scs_token": emulator.token, "ca_path": emulator.ca_path}


def pcap_calls(emulator):
    return collections.Counter(entry["path"].rstrip("/").rsplit("/", 1)[-1] for entry in emulator.requests()
                               if "/filestore_pcap/" in entry["path"])


def check_run(emu, result, dest, alerts, flows):
    assert result["_rc"] == 0 and not result.get("failed"), (result.get("msg"), result["_stderr"][-2000:])
    assert result["summary"] == {"alerts": alerts, "flows": flows, "fetched": REAL, "present": 0, "no_packets": 0,
                                 "flow_absent": 0, "rotated": 0, "no_capture": alerts - REAL, "failed": 0, "fetch": 0,
                                 "flow_events": {"fetched": REAL, "failed": 0},
                                 "files": {"fetched": 0, "too_large": 0, "not_on_probe": 0, "failed": 0}}, result["summary"]
    assert pcap_calls(emu) == {"upload": REAL, "extract_pcap": REAL, "retrieve": REAL, "download": REAL}
    names = files_under(dest)
    assert len(names) == 3 * REAL and all(name.endswith((".pcap", ".json")) for name in names), names  # no spool left
    for alert in emu.real:
        manifest = json.loads((dest / alert["host"] / ("%d.json" % alert["flow_id"])).read_text())
        assert [entry["_id"] for entry in manifest["alerts"]] == [alert["_id"]]


def test_query_of_50000_alerts_in_flat_memory(emu, tmp_path, ledger):
    dest = tmp_path / "evidence"
    emu.clear_requests()
    result, rss, seconds = run_module_direct("alert_pcap", dict(connection(emu), since="30d", page_size=1000,
                                                                dest=str(dest)), tmp_path, timeout=1200)
    check_run(emu, result, dest, SEEDED + REAL, SEEDED_FLOWS + REAL)
    assert result["results_listed"] == "problems" and len(result["results"]) == MAX_LISTED
    assert result["results_unlisted"] == SEEDED - MAX_LISTED
    pages = [entry for entry in emu.requests() if entry["path"] == "/rest/rules/es/alerts_tail/"]
    assert len(pages) >= (SEEDED + REAL) // 1000 and all(entry["status"] == 200 for entry in pages)
    assert rss < RSS_LIMIT_MIB, "peak RSS %.0f MiB" % rss
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "alert_pcap over a query of 50,010 alerts on 30,010 flows (past the 10,000 window)",
                  "alert_pcap", "survived", "summary exact (10 fetched, 50,000 no_capture), %d pages read, 40 pcap calls, "
                  "1,000 problems listed; peak RSS %.0f MiB (limit %d), %.1f s" % (len(pages), rss, RSS_LIMIT_MIB, seconds))


def test_alerts_file_of_50000_alerts_in_flat_memory(emu, tmp_path, ledger):
    template = {key: value for key, value in emu.real[0].items() if key != "capture_file"}
    path = tmp_path / "handoff.ndjson"
    with open(path, "w", encoding="utf-8") as handle:
        for index in range(SEEDED - REAL):
            handle.write(json.dumps(dict(template, _id="fileNoCapture%05d" % index, flow_id=1900000000000000 + index,
                                         host="probe-0%d" % (1 + index % 3))) + "\n")
        handle.writelines(json.dumps(alert) + "\n" for alert in emu.real)
    dest = tmp_path / "evidence"
    emu.clear_requests()
    result, rss, seconds = run_module_direct("alert_pcap", dict(connection(emu), alerts_file=str(path), results="none",
                                                                dest=str(dest)), tmp_path, timeout=1200)
    check_run(emu, result, dest, SEEDED, SEEDED)
    assert result["results_listed"] == "none" and result["results"] == []
    assert rss < RSS_LIMIT_MIB, "peak RSS %.0f MiB" % rss
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "alert_pcap over an alerts_file of 50,000 alerts (NDJSON, %.0f MiB)" % (
        path.stat().st_size / 1048576.0), "alert_pcap", "survived",
        "summary exact (10 fetched, 49,990 no_capture), 40 pcap calls; peak RSS %.0f MiB (limit %d), %.1f s" % (
            rss, RSS_LIMIT_MIB, seconds))


def test_a_full_temporary_directory_is_a_clear_error(tmp_path, ledger, monkeypatch):
    """The alerts wait in an unnamed file in TMPDIR: 200 alerts (about 500 KiB) do not fit in 64 KiB. The module runs
    as its own process (ansible-playbook would need TMPDIR for itself)."""
    with Emulator(tls=True, seed=75, probes=3, templates=1, alerts=200, flows=120, pcap="all",
                  extra_args=("--pcap-total-size", "100000000"), token=TOKEN_MARKER) as small, \
            tiny_disk(tmp_path / "tmp", "64k") as spool_dir:
        dest = tmp_path / "evidence"
        monkeypatch.setenv("TMPDIR", str(spool_dir))
        args = dict(connection(small), since="30d", dest=str(dest), workers=1)
        result, _rss, _seconds = run_module_direct("alert_pcap", args, tmp_path)
        assert result["failed"] and result["msg"].startswith(
            "Cannot write the temporary file that holds the run's alerts, in %s (TMPDIR): No space left on device. "
            % spool_dir), result["msg"]
        assert not crash_signs(result["_stderr"], "") and TOKEN_MARKER not in json.dumps(result)
        assert os.listdir(spool_dir) == []
        names = files_under(dest)
        pcaps = [name for name in names if name.endswith(".pcap")]
        assert all(name.endswith((".pcap", ".json")) for name in names) and len(names) == 3 * len(pcaps)
        ledger.checked("no partial file")
        ledger.checked("no traceback")
        ledger.record("Disruptions", "TMPDIR full while alert_pcap keeps the run's alerts there (64 KiB tmpfs)",
                      "alert_pcap, 200 alerts", "clear error", "%s; %d pcaps fetched before it were kept with their "
                      "manifests" % (result["msg"][:150], len(pcaps)))
