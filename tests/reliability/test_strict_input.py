"""Bad input that a looser check let through, given to real ansible-playbook runs against the emulator: names with a
trailing line break (a `^...$` pattern accepts "probe-01\\n"), qfilters that hide a parenthesis in a /regex/ or a
range to escape the probe restriction, and a probe address that ssh would read as an option."""

import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # inputkit, under --import-mode=importlib

from inputkit import CaseBatch, data_requests, files_under, has_traceback, result_has_traceback  # noqa: E402
from runner import BIN, TOKEN_MARKER, Emulator, ansible_env, run_tasks  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Bad input"
NO_ROTATION = ("--pcap-total-size", "100000000")
ISSUE_EXAMPLE = 'x:/"/ ) OR *:* OR ( x:/"/'
# Each tries to close the parentheses the collection puts the qfilter in, so that `AND host:"probe-01"` no longer
# restricts the query; the parenthesis hides where a looser check does not look.
INJECTIONS = {
    "issue": ("qfilter injection hiding ) OR *:* OR ( between two /regex/ holding a quote", ISSUE_EXAMPLE),
    "regex_backslash": ("qfilter injection through a /regex/ ending in \\\\", 'x:/a\\\\/ ) OR *:* OR ( x:/b\\\\/'),
    "range_quote": ("qfilter injection through a quote inside a [range]", 'x:[a TO "] ) OR *:* OR ( x:["]'),
    "glued_quote": ("qfilter injection through a quote glued to a word", 'x:a"b ) OR *:* OR ( c"'),
    "bang_quote": ("qfilter injection through !\" (NOT and a phrase, or one word)", '!"a ) OR *:* OR ( b"'),
    "escaped_slash": ("qfilter injection through an escaped / opening no /regex/", 'x:a\\/ ) OR *:* OR ( x:\\/b'),
}


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=103, probes=3, templates=1, alerts=40, flows=25, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emulator:
        yield emulator


def lone_alert(emulator):
    alerts = [alert for alert in emulator.alerts() if alert.get("capture_file")]
    per_flow = collections.Counter((alert["host"], alert["flow_id"]) for alert in alerts)
    return next(alert for alert in alerts if per_flow[(alert["host"], alert["flow_id"])] == 1 and alert["host"] == "probe-01")


def with_line_break(root):
    return [path for path in files_under(root) + [d for d, _s, _f in os.walk(str(root))] if "\n" in path or "\r" in path]


def test_qfilter_injections_never_return_another_probes_alerts(emu, tmp_path, ledger):
    batch = CaseBatch(emu)
    for key, (_scenario, qfilter) in INJECTIONS.items():
        batch.add(key, "stamus.scs.alert_info", {"probe": "probe-01", "qfilter": qfilter, "since": "30d"})
    batch.add("issue_pcap", "stamus.scs.alert_pcap", {"probe": "probe-01", "qfilter": ISSUE_EXAMPLE, "since": "30d",
                                                      "dest": str(tmp_path / "evidence")})
    batch.add("regex_control", "stamus.scs.alert_info", {"probe": "probe-01", "qfilter": "app_proto:/.*/", "since": "30d"})
    batch.execute(tmp_path)
    for key, (scenario, qfilter) in dict(INJECTIONS, issue_pcap=("", ISSUE_EXAMPLE)).items():
        result = batch[key]
        assert not result_has_traceback(result) and TOKEN_MARKER not in json.dumps(result)
        if result.get("failed"):
            assert result["msg"].startswith("qfilter ") and " at position " in result["msg"], result["msg"]
            assert data_requests(batch.requests_of(key)) == [], "refused, yet SCS was called"
        else:  # accepted: then it is one expression, and the probe restriction holds
            assert {alert["host"] for alert in result["alerts"]} <= {"probe-01"}, (key, qfilter)
        if key in INJECTIONS:
            ledger.checked("no traceback")
            ledger.record(CATEGORY, "%s `%s`" % (scenario, qfilter), "alert_info", "clear error" if result.get("failed")
                          else "survived", result["msg"][:220] if result.get("failed")
                          else "accepted as one expression: %d alerts, all of probe-01" % result["count"])
    assert batch["issue"]["failed"] and "unbalanced ')' at position 6" in batch["issue"]["msg"]
    assert batch["issue_pcap"]["failed"] and files_under(tmp_path / "evidence") == []
    control = batch["regex_control"]
    assert not control.get("failed") and control["count"] > 0 and {a["host"] for a in control["alerts"]} == {"probe-01"}
    assert not has_traceback(batch.run.stdout, batch.run.stderr) and TOKEN_MARKER not in batch.run.stdout + batch.run.stderr
    ledger.checked("no token leak")
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "qfilter injection `%s`" % ISSUE_EXAMPLE, "alert_pcap", "clear error",
                  "%s; nothing sent, nothing written" % batch["issue_pcap"]["msg"][:160])
    ledger.record(CATEGORY, "qfilter with a /regex/ and a probe (control)", "alert_info", "survived",
                  "app_proto:/.*/ accepted: %d alerts, all of probe-01" % control["count"])


def test_names_with_a_line_break_are_refused_and_create_nothing(emu, tmp_path, ledger):
    alert = lone_alert(emu)
    evidence, downloads = tmp_path / "evidence", tmp_path / "downloads"
    downloads.mkdir()
    emu.stage_pcap("staged\n", 5000)  # the emulator's own `$` check lets SCS serve it
    batch = CaseBatch(emu)
    batch.add("probe_newline", "stamus.scs.alert_pcap", {"alerts": [dict(alert, host="probe-01\n")], "dest": str(evidence),
                                                         "fail_on": "none"})
    batch.add("id_newline", "stamus.scs.pcap_upload", {"alert": dict(alert, _id=alert["_id"] + "\n")})
    batch.add("filename_newline", "stamus.scs.pcap_download", {"filename": "staged\n", "dest": str(downloads)})
    batch.add("mode_newline", "stamus.scs.pcap_download", {"filename": "staged", "dest": str(downloads), "mode": "u=rw\n"})
    try:
        batch.execute(tmp_path)
    finally:
        emu.rest("GET", "/rest/rules/filestore_pcap/staged%0A/download/").close()  # drop it if still staged
    probe = batch["probe_newline"]
    [entry] = probe["results"]
    assert entry["outcome"] == "failed" and entry["message"] == "The probe name 'probe-01\\n' cannot be used as a directory name."
    expected = {"id_newline": ["_id", "must match [0-9A-Za-z_-]+", repr(alert["_id"] + "\n")],
                "filename_newline": ["filename must match [0-9A-Za-z_-]+", "'staged\\n'"],
                "mode_newline": ["mode must be octal such as '0640'", "or symbolic", "'u=rw\\n'"]}
    for key, words in expected.items():
        result = batch[key]
        assert result.get("failed") and all(word in result["msg"] for word in words), (key, result.get("msg"))
        assert not result_has_traceback(result)
    for key in ("probe_newline", *expected):
        assert data_requests(batch.requests_of(key)) == [], (key, batch.requests_of(key))
    assert with_line_break(tmp_path) == [] and files_under(downloads) == [] and files_under(evidence) == []
    assert not has_traceback(batch.run.stdout, batch.run.stderr) and TOKEN_MARKER not in batch.run.stdout + batch.run.stderr
    ledger.checked("no traceback", 4)
    ledger.checked("no partial file", 4)
    ledger.checked("no token leak")
    ledger.record(CATEGORY, "alert whose host is \"probe-01\\n\"", "alert_pcap", "clear error",
                  "%s; no directory with a line break, no call" % entry["message"])
    for key, scenario in (("id_newline", "alert _id with a trailing line break"),
                          ("filename_newline", "filename \"staged\\n\" that SCS serves"),
                          ("mode_newline", "symbolic mode with a trailing line break")):
        module = "pcap_upload" if key == "id_newline" else "pcap_download"
        ledger.record(CATEGORY, scenario, module, "clear error", batch[key]["msg"][:200] + "; nothing written, no call")


def test_an_upload_filename_with_a_line_break_is_refused(emu, tmp_path, ledger):
    alert = lone_alert(emu)
    emu.clear_faults()
    emu.inject_fault(method="POST", path="/upload/$", kind="status", status=200, count=2,
                     body={"upload": "done", "filename": "evil\n"})
    try:
        emu.clear_requests()
        run = run_tasks(tmp_path, emu.env(), [
            {"name": "Chain", "stamus.scs.alert_pcap": {"alerts": [alert], "dest": str(tmp_path / "ev")}, "register": "chain"},
        ])
    finally:
        emu.clear_faults()
    [entry] = run["chain"]["results"]
    assert entry["outcome"] == "failed" and "unsafe or missing filename 'evil\\n'" in entry["message"], entry
    assert not [e for e in emu.requests() if "extract_pcap" in e["path"] or "evil" in e["path"]]
    assert with_line_break(tmp_path) == [] and files_under(tmp_path / "ev") == []
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "SCS returns the upload filename \"evil\\n\"", "alert_pcap", "clear error",
                  "per-alert failed outcome (%s); no extract call, nothing written" % entry["message"][:120])


def test_playbook_numbers_with_a_line_break_are_refused(emu, tmp_path, ledger):
    alert = lone_alert(emu)
    extra = {"signature_id": "%d\n" % alert["alert"]["signature_id"], "flow_id": alert["flow_id"], "dest": "./evidence"}
    emu.clear_requests()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "stamus.scs.fetch_alert_pcap", "-e", json.dumps(extra)],
                          cwd=str(tmp_path), env=ansible_env(emu.env()), capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode != 0 and "Give the alert's signature id and flow id as whole numbers" in proc.stdout, proc.stdout
    assert data_requests(emu.requests()) == [] and not (tmp_path / "evidence").exists()
    assert not has_traceback(proc.stdout, proc.stderr)
    ledger.checked("no traceback")
    ledger.record(CATEGORY, "signature_id \"2029743\\n\" (a trailing line break)", "fetch_alert_pcap playbook",
                  "clear error", "refused by the playbook's check before any call: whole numbers only")


@pytest.fixture
def short_dir():
    """A directory with a short path: a probe address holds at most 100 characters, pytest's tmp_path can be longer."""
    with tempfile.TemporaryDirectory(prefix="pc-", dir="/tmp") as path:
        yield pathlib.Path(path)


def test_a_probe_address_that_ssh_would_take_as_an_option_is_not_used(emu, tmp_path, short_dir, ledger):
    """SCS data must never reach ssh as an option: -oProxyCommand runs a command on the controller."""
    marker = short_dir / "ran"
    [probe] = emu.rest("GET", "/rest/appliances/probe/", params={"name": "probe-02"}).json()["results"]
    detail = "/rest/appliances/probe/%d/" % probe["appliance_id"]
    hostile = "-oProxyCommand=touch %s" % marker
    response = emu.rest("PATCH", detail, json={"address": hostile})
    assert response.status_code == 200, response.text
    inventory = tmp_path / "site.scs.yml"
    inventory.write_text(yaml.safe_dump({"plugin": "stamus.scs.probes"}))
    try:
        proc = subprocess.run([os.path.join(BIN, "ansible"), "-i", str(inventory), "probe-02", "-m", "ansible.builtin.ping",
                               "-c", "ssh", "-T", "5"], cwd=str(tmp_path),
                              env=ansible_env(dict(emu.env(), ANSIBLE_HOST_KEY_CHECKING="false")),
                              capture_output=True, text=True, timeout=120, check=False)
    finally:
        emu.rest("PATCH", detail, json={"address": probe["address"]})
    output = proc.stdout + proc.stderr
    assert not marker.exists(), "ssh ran the ProxyCommand from SCS data"
    assert "neither an IP address nor a host name, so no ansible_host: probe-02" in output, output[-3000:]
    assert "UNREACHABLE" in output and TOKEN_MARKER not in output
    ledger.checked("no token leak")
    ledger.record(CATEGORY, "probe address on SCS is an ssh option (-oProxyCommand=touch ...)", "probes inventory (ssh)",
                  "clear error", "no ansible_host from it, with a warning naming the probe; the ProxyCommand never ran "
                  "(the host was unreachable by its name; this machine's OpenSSH also refuses such a host name, "
                  "older ones and other connection plugins may not)")


def test_evidence_pull_keeps_severity_and_signatures_restrictive(emu, tmp_path, ledger):
    """The playbook used to wrap the user's qfilter in parentheses before any check, so `x) OR (*` came out balanced
    and turned the severity filter into an alternative: every alert of every severity was pulled."""
    severities = collections.Counter(alert["alert"]["severity"] for alert in emu.alerts())
    assert len(severities) > 1, severities
    extra = {"qfilter": "x) OR (*", "severity": 1, "since": "30d", "dest": str(tmp_path / "evidence")}
    emu.clear_requests()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "stamus.scs.evidence_pull", "-e", json.dumps(extra)],
                          cwd=str(tmp_path), env=ansible_env(emu.env()), capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode != 0 and "qfilter" in proc.stdout and "unbalanced" in proc.stdout, proc.stdout[-3000:]
    # The role still writes its report (which records the error); no evidence.
    assert data_requests(emu.requests()) == []
    assert [os.path.basename(path) for path in files_under(tmp_path / "evidence")
            if not os.path.basename(path).startswith("report-")] == []  # the report of the day and its data
    assert not has_traceback(proc.stdout, proc.stderr) and TOKEN_MARKER not in proc.stdout + proc.stderr
    ledger.checked("no traceback")
    ledger.record(CATEGORY, "qfilter injection `x) OR (*` beside -e severity=1", "evidence_pull playbook", "clear error",
                  "refused before any call to SCS: the qfilter is checked alone, severity and signature ids are separate "
                  "filters")

    control = dict(extra, qfilter="app_proto:*", dest=str(tmp_path / "control"), signature_ids="%d" % next(
        alert["alert"]["signature_id"] for alert in emu.alerts() if alert["alert"]["severity"] == 1))
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "stamus.scs.evidence_pull", "-e", json.dumps(control)],
                          cwd=str(tmp_path), env=ansible_env(emu.env()), capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    manifests = [json.loads((tmp_path / "control" / path).read_text()) for path in files_under(tmp_path / "control")
                 if path.endswith(".json") and not path.endswith(".events.json")
                 and not os.path.basename(path).startswith("report-")]
    pulled = [alert for manifest in manifests for alert in manifest["alerts"]]
    assert pulled and {(alert["alert"]["severity"], alert["alert"]["signature_id"]) for alert in pulled} == {
        (1, int(control["signature_ids"]))}
    ledger.record(CATEGORY, "qfilter, severity and signature ids together (control)", "evidence_pull playbook",
                  "survived", "%d alerts pulled, every one of severity 1 and the signature asked for" % len(pulled))
