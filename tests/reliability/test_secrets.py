"""Secrets: with the API token set to a marker and ansible-playbook at -vvv, every module, the pcap_evidence role and
failing calls (a wrong token, a 500, a redirect, a server that echoes the token) leave the token nowhere the client side
can see: output, registered results, evidence files, the emulator's request log and its log file."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # inputkit, under --import-mode=importlib

from inputkit import files_under, has_traceback  # noqa: E402
from runner import TOKEN_MARKER, Emulator, run_tasks  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Secrets"
WRONG_TOKEN = "tok-WRONG-" + TOKEN_MARKER  # a wrong token that ends with the real one
SECRETS = (TOKEN_MARKER, WRONG_TOKEN)


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=81, probes=3, templates=2, alerts=40, flows=30, pcap="mixed",
                  extra_args=("--pcap-total-size", "100000000"), token=TOKEN_MARKER) as emulator:
        emulator.configure(task_delay=0.2)
        yield emulator


def captured_alerts(emulator, count):
    alerts, seen = [], set()
    for alert in emulator.alerts("_exists_:capture_file"):
        if (alert["host"], alert["flow_id"]) not in seen:
            seen.add((alert["host"], alert["flow_id"]))
            alerts.append(alert)
    assert len(alerts) >= count
    return alerts[:count]


def role_task(name, alert_id, dest, report_format):
    return {"name": name, "ansible.builtin.include_role": {"name": "stamus.scs.pcap_evidence"},
            "vars": {"pcap_evidence_dest": str(dest), "pcap_evidence_alert_ids": [alert_id],
                     "pcap_evidence_report_format": report_format}}


@pytest.fixture(scope="module")
def runs(emu, tmp_path_factory):
    """Two -vvv playbook runs: every module and the role succeeding, then failing calls."""
    base = tmp_path_factory.mktemp("secrets")
    evidence = base / "evidence"
    alerts = captured_alerts(emu, 8)
    template = emu.state()["templates"][1]["name"]
    emu.clear_requests()
    good = run_tasks(base, emu.env(), [
        {"name": "Find", "stamus.scs.alert_info": {"qfilter": "_exists_:capture_file", "limit": 5}, "register": "info"},
        {"name": "Pull", "stamus.scs.alert_pcap": {"alerts": alerts[:3], "dest": str(evidence / "pull")}, "register": "pull"},
        {"name": "Upload", "stamus.scs.pcap_upload": {"alert": alerts[3]}, "register": "upload"},
        {"name": "Extract", "stamus.scs.pcap_extract": {"filename": alerts[3]["_id"], "probe": alerts[3]["host"]},
         "register": "extract"},
        {"name": "Retrieve", "stamus.scs.pcap_retrieve": {"filename": alerts[3]["_id"], "probe": alerts[3]["host"]},
         "register": "retrieve"},
        {"name": "Download", "stamus.scs.pcap_download": {"filename": alerts[3]["_id"], "dest": str(evidence)},
         "register": "download"},
        {"name": "Probes", "stamus.scs.probe_info": {}, "register": "probes"},
        {"name": "Templates", "stamus.scs.template_info": {}, "register": "templates"},
        {"name": "Enable and apply", "stamus.scs.conditional_pcap": {"templates": [template], "apply": True, "comment": "S-1"},
         "register": "enable"},
        {"name": "Disable", "stamus.scs.conditional_pcap": {"templates": [template], "state": "disabled"}, "register": "disable"},
        {"name": "Apply", "stamus.scs.apply_changes": {}, "register": "apply"},
        role_task("Evidence, markdown", alerts[4]["_id"], evidence / "role-md", "markdown"),
        role_task("Evidence, html", alerts[5]["_id"], evidence / "role-html", "html"),
    ], verbosity=3)

    # Failing calls. Faults are matched in order: the first alerts_tail call is redirected, the second gets a 400 whose
    # body echoes the token; the rest are aimed at one alert's pcap by its id.
    emu.clear_faults()
    emu.inject_fault(path="/alerts_tail/$", kind="redirect", count=1)
    emu.inject_fault(path="/alerts_tail/$", kind="status", status=400, count=1,
                     body={"detail": "Invalid token %s" % TOKEN_MARKER, "qfilter": ["no such field for %s" % TOKEN_MARKER]})
    emu.inject_fault(path="/scirius_context/$", kind="status", status=500, count=1,
                     body={"detail": "Server Error for token %s" % TOKEN_MARKER})
    emu.inject_fault(method="POST", path="/%s/extract_pcap/$" % alerts[6]["_id"], kind="html500", count=-1)
    emu.inject_fault(method="GET", path="/%s/retrieve/$" % alerts[7]["_id"], kind="redirect", count=-1)
    try:
        bad = run_tasks(base, emu.env(), [
            {"name": "Redirected", "stamus.scs.alert_info": {"limit": 1}, "register": "redirected"},
            {"name": "Echoed", "stamus.scs.alert_info": {"limit": 1}, "register": "echoed"},
            {"name": "Echoed, explicit token", "stamus.scs.alert_pcap": {
                "alerts": [alerts[6]], "dest": str(evidence / "echo"), "scs_token": TOKEN_MARKER}, "register": "echoed_pcap"},
            {"name": "Wrong token", "stamus.scs.alert_info": {"limit": 1, "scs_token": WRONG_TOKEN}, "register": "wrong"},
            {"name": "Wrong token, pcap", "stamus.scs.alert_pcap": {
                "alerts": [alerts[0]], "dest": str(evidence / "wrong"), "scs_token": WRONG_TOKEN}, "register": "wrong_pcap"},
            {"name": "Wrong token, probes", "stamus.scs.conditional_pcap": {
                "templates": [template], "scs_token": WRONG_TOKEN}, "register": "wrong_cp"},
            {"name": "500 on extract", "stamus.scs.alert_pcap": {"alerts": [alerts[6]], "dest": str(evidence / "broken")},
             "register": "broken"},
            {"name": "500 on extract, step", "stamus.scs.pcap_extract": {"filename": alerts[6]["_id"], "probe": alerts[6]["host"]},
             "register": "broken_step"},
            {"name": "Upload for the redirect", "stamus.scs.pcap_upload": {"alert": alerts[7]}, "register": "upload7"},
            {"name": "Extract for the redirect", "stamus.scs.pcap_extract": {"filename": alerts[7]["_id"], "probe": alerts[7]["host"]},
             "register": "extract7"},
            {"name": "Redirected retrieve", "stamus.scs.pcap_retrieve": {"filename": alerts[7]["_id"], "probe": alerts[7]["host"]},
             "register": "retrieve7"},
        ], verbosity=3)
    finally:
        emu.clear_faults()
    return {"good": good, "bad": bad, "evidence": evidence, "alerts": alerts}


def test_every_module_and_the_role_ran(runs):
    good = runs["good"]
    for name in ("info", "pull", "upload", "extract", "retrieve", "download", "probes", "templates", "enable", "disable", "apply"):
        assert good[name] and not good[name].get("failed"), (name, good[name])
    assert good["pull"]["summary"]["fetched"] == 3
    assert good["enable"]["apply"]["task"]["success"] is True and good["apply"]["apply"]["task"]["success"] is True
    evidence = runs["evidence"]
    assert [name for name in files_under(evidence / "role-md") if name.startswith("report-") and name.endswith(".md")]
    assert [name for name in files_under(evidence / "role-html") if name.startswith("report-") and name.endswith(".html")]
    assert good.rc == 0, good.stdout[-3000:]


def test_failing_calls_failed_for_the_right_reason(runs):
    bad = runs["bad"]
    assert "redirect to" in bad["redirected"]["msg"] and "127.0.0.2" in bad["redirected"]["msg"]
    assert bad["echoed"]["failed"] and "HTTP 400" in bad["echoed"]["msg"]
    assert bad["echoed_pcap"]["failed"] and "HTTP 500" in bad["echoed_pcap"]["msg"]
    for name in ("wrong", "wrong_pcap", "wrong_cp"):
        assert bad[name]["failed"] and "refused the API token" in bad[name]["msg"], (name, bad[name])
    assert bad["broken"]["failed"] and "HTTP 500" in bad["broken"]["msg"]
    assert bad["broken_step"]["failed"] and "HTTP 500" in bad["broken_step"]["msg"]
    assert bad["retrieve7"]["failed"] and "redirect" in bad["retrieve7"]["msg"]
    assert not has_traceback(bad.stdout, bad.stderr)


def leaks(text):
    return [secret for secret in SECRETS if secret in text]


def read_all(paths):
    texts = {}
    for path in paths:
        with open(path, "rb") as handle:
            texts[str(path)] = handle.read().decode("utf-8", "replace")
    return texts


def check_place(ledger, place, texts, detail):
    found = {name: leaks(text) for name, text in texts.items() if leaks(text)}
    assert not found, "the token leaks into %s: %s" % (place, sorted(found)[:5])
    ledger.checked("no token leak")
    ledger.record(CATEGORY, "API token (and a wrong token ending with it) at -vvv, every module, the role, failing calls",
                  place, "survived", detail)


def test_no_token_in_ansible_output(runs, ledger):
    good, bad = runs["good"], runs["bad"]
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in bad.stdout or "********" in bad.stdout
    check_place(ledger, "ansible-playbook stdout (-vvv)", {"good": good.stdout, "bad": bad.stdout},
                "%d KiB of -vvv output from 2 runs, 24 tasks: token absent" % ((len(good.stdout) + len(bad.stdout)) // 1024))
    check_place(ledger, "ansible-playbook stderr", {"good": good.stderr, "bad": bad.stderr}, "token absent")


def test_no_token_in_registered_results(runs, ledger):
    texts = {"good": json.dumps(runs["good"].results), "bad": json.dumps(runs["bad"].results)}
    check_place(ledger, "registered results", texts,
                "every task's result, failures with their api_detail included: token absent")


def test_no_token_in_evidence_files(runs, ledger):
    evidence = runs["evidence"]
    names = files_under(evidence)
    manifests = [evidence / name for name in names if name.endswith(".json")]
    reports = [evidence / name for name in names if name.endswith((".md", ".html"))]
    pcaps = [evidence / name for name in names if name.endswith(".pcap")]
    assert len(manifests) >= 5 and len(reports) == 2 and len(pcaps) >= 6
    check_place(ledger, "custody manifests", read_all(manifests), "%d manifests: token absent" % len(manifests))
    check_place(ledger, "evidence reports (markdown, html)", read_all(reports), "token absent")
    check_place(ledger, "pcap files", read_all(pcaps), "%d pcaps: token absent" % len(pcaps))


@pytest.mark.usefixtures("runs")
def test_no_token_in_what_the_server_logged(emu, ledger):
    entries = emu.requests()
    assert entries and all(entry["auth"] for entry in entries if entry["path"].startswith("/rest/"))
    check_place(ledger, "emulator request log (paths, queries)", {"requests": json.dumps(entries)},
                "%d requests: the token only ever in the Authorization header" % len(entries))
    log_path = os.path.join(emu.data_dir, "emulator.log")
    text = read_all([log_path])[log_path]
    # The emulator prints its own token once at startup (SCS_TOKEN=..., like `make emulator`): that line is the
    # server's, written before any client call; everything else in the log is what the client's calls produced.
    banner = "SCS_TOKEN=%s\n" % TOKEN_MARKER
    assert text.count(banner) >= 1
    check_place(ledger, "emulator log file", {log_path: text.replace(banner, "")},
                "%d lines (errors and tracebacks of 500s): token absent besides the emulator's own startup banner"
                % text.count("\n"))
