"""The playbooks fetch_alert_pcap, fetch_alert_pcap_stepwise and evidence_pull, and the pcap_evidence role, run with
a real ansible-playbook against the emulator over HTTPS."""

import hashlib
import json
import os
import re
import subprocess

import pytest

from runner import BIN, REPO, Emulator, ansible_env, role_playbook


@pytest.fixture(scope="module")
def emu():
    """Every probe captures and the stores are large enough that nothing is rotated."""
    with Emulator(tls=True, seed=21, probes=3, templates=2, alerts=60, flows=40, pcap="all",
                  extra_args=("--pcap-total-size", "100000000")) as emulator:
        yield emulator


def play(emulator, playbook, cwd, extra_vars=None):
    """Run a playbook (a collection FQCN or a path) from ``cwd``; extra vars go in as one JSON document."""
    command = [os.path.join(BIN, "ansible-playbook"), str(playbook)]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    return subprocess.run(command, cwd=str(cwd), env=ansible_env(emulator.env()), capture_output=True, text=True,
                          timeout=180, check=False)


def reports(dest, ext="md"):
    return sorted(dest.glob("report-*." + ext))


def report_rows(path):
    """The rows of the markdown report's alert table, as dicts keyed by the column headers."""
    lines = [line for line in path.read_text().split("## Alerts", 1)[1].splitlines() if line.startswith("|")]
    header = cells(lines[0])
    return [dict(zip(header, cells(line))) for line in lines[2:] if line.startswith("|")]


def cells(line):
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_alert_pcap_files_pcap_manifest_and_report(tmp_path, emu):
    alert = emu.alerts()[5]
    sid, flow_id, probe = alert["alert"]["signature_id"], alert["flow_id"], alert["host"]
    dest = tmp_path / "evidence"
    run = play(emu, "stamus.scs.fetch_alert_pcap", tmp_path,
               {"signature_id": sid, "flow_id": flow_id, "dest": "./evidence", "report": True})
    assert run.returncode == 0, run.stdout + run.stderr
    pcap, manifest = dest / probe / ("%d.pcap" % flow_id), dest / probe / ("%d.json" % flow_id)
    assert pcap.is_file() and manifest.is_file()
    assert alert["_id"] in [entry["_id"] for entry in json.loads(manifest.read_text())["alerts"]]
    assert oct(pcap.stat().st_mode & 0o777) == "0o640"
    [report] = reports(dest)
    assert oct(report.stat().st_mode & 0o777) == "0o640"
    text = report.read_text()
    assert emu.url in text and "signature_id=%d, flow_id=%d" % (sid, flow_id) in text
    rows = {row["alert id"]: row for row in report_rows(report)}
    row = rows[alert["_id"]]
    assert row["outcome"] == "fetched" and row["probe"] == probe and row["flow id"] == str(flow_id)
    assert row["pcap"] == "%s/%d.pcap" % (probe, flow_id) and row["sha256"] == sha256(pcap)
    assert alert["alert"]["signature"] in row["signature"] and int(row["packets"]) > 0
    assert str(pcap) in run.stdout and '"failed": 0' in run.stdout

    again = play(emu, "stamus.scs.fetch_alert_pcap", tmp_path,
                 {"signature_id": sid, "flow_id": flow_id, "dest": "./evidence", "report": True})
    assert again.returncode == 0, again.stdout
    assert {row["outcome"] for row in report_rows(reports(dest)[-1])} == {"present"}

    lean = play(emu, "stamus.scs.fetch_alert_pcap", tmp_path, {"signature_id": sid, "flow_id": flow_id, "dest": "./lean"})
    assert lean.returncode == 0, lean.stdout + lean.stderr
    lean_pcap = tmp_path / "lean" / probe / ("%d.pcap" % flow_id)
    assert lean_pcap.read_bytes() == pcap.read_bytes() and not reports(tmp_path / "lean")
    assert str(lean_pcap) in lean.stdout and "\"failed\": 0" in lean.stdout, lean.stdout[-1500:]


def test_stepwise_downloads_the_bytes_the_probe_extracts(tmp_path, emu):
    alert = emu.alerts()[11]
    sid, flow_id, probe = alert["alert"]["signature_id"], alert["flow_id"], alert["host"]
    newest = emu.alerts("alert.signature_id:%d AND flow_id:%d" % (sid, flow_id))[0]  # the one the playbook takes
    run = play(emu, "stamus.scs.fetch_alert_pcap_stepwise", tmp_path,
               {"signature_id": sid, "flow_id": flow_id, "dest": "./steps"})
    assert run.returncode == 0, run.stdout + run.stderr
    for step in ("Step 1 - find the alert", "Step 2 - upload", "Step 3 - have the probe extract", "Step 4 - bring",
                 "Step 5 - download"):
        assert step in run.stdout
    pcap = tmp_path / "steps" / probe / ("%d.pcap" % flow_id)
    assert pcap.read_bytes() == emu.expected_pcap(newest["_id"])
    assert not os.path.exists(os.path.join(REPO, "playbooks", "steps"))  # ./steps is the caller's, not the playbook's
    assert sha256(pcap) in run.stdout and "packets: " in run.stdout

    missing = play(emu, "stamus.scs.fetch_alert_pcap_stepwise", tmp_path, {"signature_id": 1, "flow_id": flow_id})
    assert missing.returncode != 0 and "No alert matches signature_id=1" in missing.stdout


def test_evidence_pull_fetches_exactly_severity_1_then_all_present(tmp_path, emu):
    expected = emu.alerts("alert.severity:1")
    assert expected and len(expected) < len(emu.alerts())
    dest = tmp_path / "pull"
    run = play(emu, "stamus.scs.evidence_pull", tmp_path, {"severity": 1, "since": "7d", "dest": str(dest)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "query: severity 1, since 7d" in run.stdout
    [report] = reports(dest)
    rows = report_rows(report)
    assert sorted(row["alert id"] for row in rows) == sorted(alert["_id"] for alert in expected)
    assert {row["outcome"] for row in rows} == {"fetched"}
    assert sorted(str(path.relative_to(dest)) for path in dest.glob("*/*.pcap")) == sorted(
        {"%s/%d.pcap" % (alert["host"], alert["flow_id"]) for alert in expected})

    again = play(emu, "stamus.scs.evidence_pull", tmp_path, {"severity": "1", "since": "7d", "dest": str(dest)})
    assert again.returncode == 0, again.stdout
    assert reports(dest) == [report]  # one report per destination and day, updated by the rerun
    rows = report_rows(report)
    assert len(rows) == len(expected) and {row["outcome"] for row in rows} == {"present"}
    runs = report.read_text().split("## Runs of the day", 1)[1].split("## Alerts", 1)[0]
    assert runs.count("| completed |") == 2
    assert '"present": %d' % len(expected) in again.stdout

    bad = play(emu, "stamus.scs.evidence_pull", tmp_path, {"signature_ids": ["1 OR *:*"], "dest": str(dest)})
    assert bad.returncode != 0 and "signature_ids a list of whole numbers" in bad.stdout


def test_nothing_selected_fails_before_any_request(tmp_path, emu):
    emu.clear_requests()
    run = play(emu, role_playbook(tmp_path, {"pcap_evidence_dest": str(tmp_path / "none")}), tmp_path)
    assert run.returncode != 0
    assert "Select the alerts with exactly one of" in run.stdout and "Nothing was sent to SCS" in run.stdout
    both = play(emu, role_playbook(tmp_path, {"pcap_evidence_dest": str(tmp_path / "none"),
                                              "pcap_evidence_alert_ids": ["abc"], "pcap_evidence_signature_id": 1}), tmp_path)
    assert both.returncode != 0 and "Select the alerts with exactly one of" in both.stdout
    bad_id = play(emu, role_playbook(tmp_path, {"pcap_evidence_dest": str(tmp_path / "none"),
                                                "pcap_evidence_alert_ids": ['x" OR *:*']}), tmp_path)
    assert bad_id.returncode != 0 and "must hold SCS alert ids" in bad_id.stdout
    no_flow = play(emu, "stamus.scs.fetch_alert_pcap", tmp_path, {"signature_id": 2029743})
    assert no_flow.returncode != 0 and "Give the alert's signature id and flow id" in no_flow.stdout
    assert emu.requests() == []
    assert not (tmp_path / "none").exists() and not (tmp_path / "evidence").exists()


def test_alert_ids_and_html_report_escapes(tmp_path, emu):
    alerts = emu.alerts()[20:23]
    ids = [alert["_id"] for alert in alerts] + ["NoSuchAlert0"]
    dest = tmp_path / "ids"
    run = play(emu, role_playbook(tmp_path, {"pcap_evidence_dest": str(dest), "pcap_evidence_alert_ids": ids}), tmp_path)
    assert run.returncode != 0 and "1 alert id(s) were not found on SCS: NoSuchAlert0" in run.stdout
    rows = {row["alert id"]: row["outcome"] for row in report_rows(reports(dest)[0])}
    assert rows == dict({alert_id: "fetched" for alert_id in ids[:3]}, NoSuchAlert0="not_found")

    html_dest = tmp_path / "html"
    run = play(emu, role_playbook(tmp_path, {"pcap_evidence_dest": str(html_dest), "pcap_evidence_qfilter": "alert.severity:<2",
                                             "pcap_evidence_limit": 2, "pcap_evidence_report_format": "html"}), tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    [report] = reports(html_dest, "html")
    html = report.read_text()
    assert "alert.severity:&lt;2" in html and "severity:<2" not in html
    assert html.count('<tr class="fetched">') + html.count('<tr class="present">') == 2


def test_report_is_written_before_the_role_fails(tmp_path, emu):
    emu.inject_fault(path="extract_pcap", kind="status", status=400, body={"error": "probe busy"}, count=-1)
    try:
        run = play(emu, role_playbook(tmp_path, {"pcap_evidence_dest": "./failing", "pcap_evidence_since": "7d",
                                                 "pcap_evidence_limit": 2}), tmp_path)
    finally:
        emu.clear_faults()
    assert run.returncode != 0 and "could not be fetched" in run.stdout and "probe busy" in run.stdout
    [report] = reports(tmp_path / "failing")
    assert "The report is %s" % report in run.stdout
    rows = report_rows(report)
    assert len(rows) == 2 and {row["outcome"] for row in rows} == {"failed"} and "probe busy" in rows[0]["message"]
