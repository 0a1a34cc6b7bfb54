"""A pcap without the alert's flow: SCS answers every extraction with packets of another flow (the emulator's
extract_other_flow setting, as a probe that extracted the wrong capture would). alert_pcap must not file it silently
as `fetched`: outcome flow_absent, kept and warned about (default), kept without a warning (keep), or nothing kept
and a failure (fail); the pcap_evidence report and the fetch_alert_pcap summary show it."""

import collections
import json
import os
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # inputkit, under --import-mode=importlib

from inputkit import files_under, has_traceback, result_has_traceback  # noqa: E402
from runner import BIN, TOKEN_MARKER, Emulator, ansible_env, run_tasks  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Evidence integrity"
NO_ROTATION = ("--pcap-total-size", "100000000")


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=91, probes=2, templates=1, alerts=30, flows=20, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emulator:
        yield emulator


@pytest.fixture
def other_flow(emu):
    emu.configure(extract_other_flow=True)
    yield
    emu.configure(extract_other_flow=False)


def lone_alerts(emulator, count):
    """``count`` alerts with a capture file, each alone on its flow and on its (signature, flow) pair."""
    alerts = [alert for alert in emulator.alerts() if alert.get("capture_file")]
    per_flow = collections.Counter((alert["host"], alert["flow_id"]) for alert in alerts)
    chosen = [alert for alert in alerts if per_flow[(alert["host"], alert["flow_id"])] == 1][:count]
    assert len(chosen) == count
    return chosen


def test_alert_pcap_never_files_another_flow_silently(emu, other_flow, tmp_path, ledger):
    warn, fail, keep = lone_alerts(emu, 3)
    dests = {name: tmp_path / name for name in ("warn", "fail", "keep")}
    run = run_tasks(tmp_path, emu.env(), [
        {"name": "Default", "stamus.scs.alert_pcap": {"alerts": [warn], "dest": str(dests["warn"])}, "register": "warn"},
        {"name": "Fail", "stamus.scs.alert_pcap": {"alerts": [fail], "dest": str(dests["fail"]), "on_flow_absent": "fail"},
         "register": "fail"},
        {"name": "Keep", "stamus.scs.alert_pcap": {"alerts": [keep], "dest": str(dests["keep"]), "on_flow_absent": "keep"},
         "register": "keep"},
    ])
    for name in ("warn", "fail", "keep"):
        assert not result_has_traceback(run[name]) and TOKEN_MARKER not in json.dumps(run[name])
        [entry] = run[name]["results"]
        assert entry["outcome"] == "flow_absent" and entry["flow_present"] is False and entry["packets"] == 3, entry
        assert run[name]["summary"]["flow_absent"] == 1 and run[name]["summary"]["fetched"] == 0
    assert not has_traceback(run.stdout, run.stderr) and TOKEN_MARKER not in run.stdout + run.stderr

    warned = run["warn"]
    assert not warned.get("failed") and warned["changed"] is True
    [warning] = [w for w in warned["warnings"] if "without any packet of their flow" in w]
    [entry] = warned["results"]
    manifest = json.loads(open(entry["manifest"], encoding="utf-8").read())
    assert manifest["pcap"]["flow_present"] is False and manifest["pcap"]["sha256"] == entry["sha256"]
    assert "none of the alert's 5-tuple" in entry["message"] and "%s:%s" % (warn["src_ip"], warn["src_port"]) in entry["message"]

    failed = run["fail"]
    assert failed["failed"] and "1 of 1 alert(s) could not be fetched" in failed["msg"]
    assert "none of the alert's 5-tuple" in failed["msg"] and "nothing was kept (on_flow_absent=fail)" in failed["msg"]
    assert failed["results"][0]["pcap"] is None and files_under(dests["fail"]) == []

    kept = run["keep"]
    assert not kept.get("failed") and not [w for w in kept.get("warnings", []) if "flow" in w]
    assert sorted(files_under(dests["keep"])) == ["%s/%d.%s" % (keep["host"], keep["flow_id"], kind)
                                                  for kind in ("events.json", "json", "pcap")]
    ledger.checked("no traceback", 3)
    ledger.checked("no token leak", 3)
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "SCS sends a pcap without the alert's flow (default on_flow_absent=warn)", "alert_pcap",
                  "survived", "outcome flow_absent (not fetched), pcap and manifest kept with flow_present false, "
                  "warned: %s" % warning[:150])
    ledger.record(CATEGORY, "SCS sends a pcap without the alert's flow, on_flow_absent=fail", "alert_pcap", "clear error",
                  failed["msg"][:220])
    ledger.record(CATEGORY, "SCS sends a pcap without the alert's flow, on_flow_absent=keep", "alert_pcap", "survived",
                  "outcome flow_absent, pcap and manifest kept, no warning")


def test_the_stepwise_playbook_warns_about_it(emu, other_flow, tmp_path, ledger):
    alert = lone_alerts(emu, 5)[4]
    command = [os.path.join(BIN, "ansible-playbook"), "stamus.scs.fetch_alert_pcap_stepwise", "-e", json.dumps({
        "signature_id": alert["alert"]["signature_id"], "flow_id": alert["flow_id"], "probe": alert["host"],
        "dest": "./evidence"})]
    run = subprocess.run(command, cwd=str(tmp_path), env=ansible_env(emu.env()), capture_output=True, text=True,
                         timeout=180, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "holds 3 packet(s), none of the alert's 5-tuple: check that it is the right capture" in output, output[-3000:]
    assert "packets of the alert's flow: 0" in run.stdout
    assert not has_traceback(output) and TOKEN_MARKER not in output
    ledger.checked("no traceback")
    ledger.record(CATEGORY, "SCS sends a pcap without the alert's flow, through fetch_alert_pcap_stepwise",
                  "pcap_download", "survived", "kept (no manifest in this playbook) with flow_present false, and warned")


def test_the_report_and_the_playbook_summary_show_it(emu, other_flow, tmp_path, ledger):
    alert = lone_alerts(emu, 4)[3]
    command = [os.path.join(BIN, "ansible-playbook"), "stamus.scs.fetch_alert_pcap", "-e", json.dumps({
        "signature_id": alert["alert"]["signature_id"], "flow_id": alert["flow_id"], "probe": alert["host"],
        "dest": "./evidence", "report": True})]
    run = subprocess.run(command, cwd=str(tmp_path), env=ansible_env(emu.env()), capture_output=True, text=True,
                         timeout=180, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert '"flow_absent": 1' in run.stdout and '"fetched": 0' in run.stdout, run.stdout
    assert "without any packet of their flow" in run.stdout + run.stderr
    [report] = sorted((tmp_path / "evidence").glob("report-*.md"))
    text = report.read_text()
    header, counts = [line for line in text.split("## Summary", 1)[1].splitlines() if line.startswith("| ")][:2]
    summary = dict(zip(re.findall(r"\w+", header), re.findall(r"\d+", counts)))
    assert summary["flow_absent"] == "1" and summary["fetched"] == "0", summary
    row = [line for line in text.split("## Alerts", 1)[1].splitlines() if alert["_id"] in line]
    assert len(row) == 1 and "| flow_absent |" in row[0] and "none of the alert" in row[0], row
    assert not has_traceback(run.stdout, run.stderr) and TOKEN_MARKER not in run.stdout + run.stderr + text
    ledger.checked("no traceback")
    ledger.checked("no token leak")
    ledger.record(CATEGORY, "SCS sends a pcap without the alert's flow, through fetch_alert_pcap with its report",
                  "fetch_alert_pcap (pcap_evidence role)", "survived",
                  "summary flow_absent 1, fetched 0; the report's summary and row say flow_absent; the run warned")
