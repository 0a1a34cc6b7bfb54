"""The real ansible-rulebook runs the stamus.scs.pcap_on_alert rulebook (source stamus.scs.alerts, playbook
stamus.scs.pcap_for_event) against the HTTPS emulator: a new severity 1 alert ends up as a verified pcap and custody
manifest, an alert of another severity does not, and the token never shows in ansible-rulebook's output."""

import hashlib
import json
import os
import signal
import subprocess
import time
import urllib.parse

import pytest
import yaml

from runner import BIN, TOKEN_MARKER, Emulator, ansible_env

pytestmark = pytest.mark.integration

DEADLINE = 120  # seconds for the rulebook to start, see the alerts and run the playbook


@pytest.fixture(scope="module")
def emulator():
    with Emulator(tls=True, seed=23, probes=2, templates=1, alerts=20, flows=10, pcap="all", token=TOKEN_MARKER) as emu:
        yield emu


def wait_for(what, check, proc, output, timeout=DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail("%s: not within %ss (ansible-rulebook %s):\n%s" % (
        what, timeout, "exited with %s" % proc.returncode if proc.poll() is not None else "still running",
        output.read_text()[-6000:]))


def stop(proc):
    """SIGTERM the rulebook's process group (ansible-rulebook, ansible-runner, ansible-playbook), SIGKILL if it lingers."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        pytest.fail("ansible-rulebook ignored SIGTERM for 20s")


def polls(emulator):
    return [call for call in emulator.requests() if call["path"].endswith("/alerts_tail/")]


def manifests(root):
    """The custody manifests under ``root`` (not the flows' events files beside them)."""
    return sorted(path for path in root.glob("*/*.json") if not path.name.endswith(".events.json"))


def test_severity_1_alert_becomes_verified_evidence(emulator, tmp_path):
    evidence = tmp_path / "evidence"
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}))
    (tmp_path / "vars.yml").write_text(yaml.safe_dump({"scs_evidence_dir": str(evidence), "scs_poll_interval": 1,
                                                       "scs_state_file": str(tmp_path / "state.json")}))
    output = tmp_path / "rulebook.log"
    emulator.clear_requests()
    started = time.monotonic()
    with open(output, "wb") as log:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [os.path.join(BIN, "ansible-rulebook"), "--rulebook", "stamus.scs.pcap_on_alert", "-i", "inventory.yml",
             "--vars", "vars.yml", "--print-events", "-v"],
            cwd=tmp_path, env=ansible_env(emulator.env()), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # The first poll only notes the alerts already on SCS; the second proves the source is past it.
        wait_for("two polls of alerts_tail", lambda: len(polls(emulator)) >= 2, proc, output)
        ready = time.monotonic()
        other = emulator.add_alerts(probe="probe-01", count=1, severity=2)[0]
        wanted = emulator.add_alerts(probe="probe-02", count=1, severity=1)[0]
        written = wait_for("the manifest of the severity 1 alert",
                           lambda: [path for path in manifests(evidence)
                                    if wanted["_id"] in path.read_text()], proc, output)
        fetched = time.monotonic()
        wait_for("the state file to hold the severity 1 alert",
                 lambda: wanted["_id"] in json.loads((tmp_path / "state.json").read_text())["seen"]
                 if (tmp_path / "state.json").exists() else False, proc, output)
        seen = json.loads((tmp_path / "state.json").read_text())["seen"]
    finally:
        stop(proc)
    # The source filters the severity on SCS (severity: [1] in its arguments): the severity 2 alert is never read.
    qfilters = {urllib.parse.parse_qs(call["query"]).get("qfilter", [""])[0] for call in polls(emulator)}
    qfilters = {qfilter for qfilter in qfilters if "_id:" not in qfilter}  # not the playbook's lookup of the alert by id
    assert qfilters and all("alert.severity:(1)" in qfilter or "alert.severity:1" in qfilter for qfilter in qfilters), qfilters
    assert other["_id"] not in seen

    manifest = json.loads(written[0].read_text())
    pcap = written[0].with_suffix(".pcap")
    expected = emulator.expected_pcap(wanted["_id"])
    assert written[0].parent.name == "probe-02" and pcap.name == "%d.pcap" % wanted["flow_id"]
    assert hashlib.sha256(pcap.read_bytes()).hexdigest() == hashlib.sha256(expected).hexdigest() == manifest["pcap"]["sha256"]
    assert manifest["pcap"]["packets"] > 0 and manifest["pcap"]["flow_present"] is True
    assert [alert["_id"] for alert in manifest["alerts"]] == [wanted["_id"]]
    assert manifest["collected_by"]["custody"]["eda"]["rule"] == "Fetch the pcap of a severity 1 alert"
    assert len(manifests(evidence)) == 1, "only the severity 1 alert is fetched: %s" % manifests(evidence)
    assert not any(other["_id"] in path.read_text() for path in evidence.rglob("*.json"))
    text = output.read_text()
    assert other["_id"] not in text, "the severity 2 alert is not an event"
    assert TOKEN_MARKER not in text
    assert "Traceback" not in text
    print("rulebook ready in %.1fs, severity 1 alert on disk %.1fs after it was added" % (ready - started, fetched - ready))


def test_evidence_playbook_refuses_to_run_without_an_event(tmp_path):
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "stamus.scs.pcap_for_event"], cwd=tmp_path,
                          env=ansible_env({"SCS_URL": "https://scs.invalid", "SCS_TOKEN": TOKEN_MARKER}),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "run it from a rulebook such as stamus.scs.pcap_on_alert" in proc.stdout
    assert not (tmp_path / "evidence").exists() and TOKEN_MARKER not in proc.stdout + proc.stderr


def run_evidence_playbook(tmp_path, extra_vars, env):
    """ansible-playbook stamus.scs.pcap_for_event with ``extra_vars`` from a file, as ansible-rulebook passes them."""
    (tmp_path / "extravars.json").write_text(json.dumps(extra_vars))
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "stamus.scs.pcap_for_event", "-e", "@extravars.json"],
                          cwd=tmp_path, env=ansible_env(env), capture_output=True, text=True, timeout=120, check=False)
    assert TOKEN_MARKER not in proc.stdout + proc.stderr
    return proc


def test_evidence_playbook_refuses_a_relative_dest(tmp_path):
    event = {"stamus_alert": {"_id": "a1"}, "stamus_ref": {"alert_id": "a1", "probe": "probe-01", "flow_id": 1}}
    proc = run_evidence_playbook(tmp_path, {"ansible_eda": {"event": event}, "dest": "evidence"},
                                 {"SCS_URL": "https://scs.invalid", "SCS_TOKEN": TOKEN_MARKER})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "dest must be an absolute path" in proc.stdout
    assert not (tmp_path / "evidence").exists()


@pytest.mark.parametrize("ref", [{"alert_id": "a1", "probe": "../etc", "flow_id": 1},
                                 {"alert_id": "a/1", "probe": "probe-01", "flow_id": 1},
                                 {"alert_id": "a1", "probe": "probe-01", "flow_id": -1},
                                 {"alert_id": "a1", "probe": "probe-01", "flow_id": "1"},
                                 {"alert_id": "a1", "probe": "probe-01"}])
def test_evidence_playbook_refuses_an_unsafe_reference(tmp_path, ref):
    proc = run_evidence_playbook(tmp_path, {"ansible_eda": {"event": {"stamus_ref": ref}}, "dest": str(tmp_path / "ev")},
                                 {"SCS_URL": "https://scs.invalid", "SCS_TOKEN": TOKEN_MARKER})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "is not one the source stamus.scs.alerts makes" in proc.stdout
    assert not (tmp_path / "ev").exists()


def test_evidence_playbook_fails_clearly_when_scs_does_not_know_the_alert(emulator, tmp_path):
    known = emulator.alerts()[0]
    evidence = tmp_path / "evidence"
    for ref in ({"alert_id": "NoSuchAlert0000000000", "probe": known["host"], "flow_id": known["flow_id"]},
                {"alert_id": known["_id"], "probe": known["host"], "flow_id": known["flow_id"] + 1}):
        proc = run_evidence_playbook(tmp_path, {"ansible_eda": {"event": {"stamus_ref": ref}}, "dest": str(evidence)},
                                     emulator.env())
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "1 of the alert_ids were not found on SCS: %s." % ref["alert_id"] in proc.stdout
        assert not manifests(evidence)


def test_event_kinds_and_exact_probes_drive_evidence_of_declarations_of_compromise(tmp_path):
    """A rulebook whose source asks for Declarations of Compromise of probe-01: the DoC of probe-01 is fetched by
    stamus.scs.pcap_for_event (whose id lookup finds every kind); the DoC of probe-01-dmz, which this SCS matches for
    probe-01 (its keyword sub-fields analysed), and a plain alert of probe-01 never become events."""
    evidence = tmp_path / "evidence"
    rulebook = tmp_path / "doc.yml"
    rulebook.write_text(yaml.safe_dump([{
        "name": "DoC evidence", "hosts": "localhost",
        "sources": [{"stamus.scs.alerts": {"event_kinds": "doc", "probes": ["probe-01"], "interval": 1}}],
        "rules": [{"name": "Fetch the pcap of a DoC",
                   "condition": 'event.stamus_alert.event_type == "stamus" and event.stamus_ref is defined',
                   "action": {"run_playbook": {"name": "stamus.scs.pcap_for_event",
                                               "extra_vars": {"dest": str(evidence)}}}}],
    }], sort_keys=False))
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}))
    output = tmp_path / "rulebook.log"
    with Emulator(tls=True, seed=24, probes=3, templates=1, alerts=10, flows=5, pcap="all", token=TOKEN_MARKER) as emu:
        emu.rename_probe("probe-03", "probe-01-dmz")
        emu.configure(analysed_subfields=True)  # SCS matches probe-01-dmz for probe-01: the source must drop it
        with open(output, "wb") as log:
            proc = subprocess.Popen(  # pylint: disable=consider-using-with
                [os.path.join(BIN, "ansible-rulebook"), "--rulebook", str(rulebook), "-i", "inventory.yml",
                 "--print-events", "-v"],
                cwd=tmp_path, env=ansible_env(emu.env()), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for("two polls of alerts_tail", lambda: len(polls(emu)) >= 2, proc, output)
            [other_doc] = emu.add_alerts(probe="probe-01-dmz", kind="doc")
            [plain] = emu.add_alerts(probe="probe-01")
            [doc] = emu.add_alerts(probe="probe-01", kind="doc")
            written = wait_for("the manifest of the DoC", lambda: [path for path in manifests(evidence)
                                                                   if doc["_id"] in path.read_text()], proc, output)
            wait_for("a poll after the DoC's", lambda: len(polls(emu)) >= 6, proc, output)
        finally:
            stop(proc)
        expected = emu.expected_pcap(doc["_id"])
        queries = [dict(urllib.parse.parse_qsl(call["query"])) for call in polls(emu)]
    manifest = json.loads(written[0].read_text())
    assert written[0].parent.name == "probe-01" and written[0].with_suffix(".pcap").read_bytes() == expected
    assert [alert["_id"] for alert in manifest["alerts"]] == [doc["_id"]] and manifest["alerts"][0]["stamus"]
    assert len(manifests(evidence)) == 1
    source = [query for query in queries if query.get("ordering") == "@timestamp"]  # not the playbook's lookup by id
    assert len(source) >= 4 and all((query["alert"], query["stamus"], query["discovery"], query["qfilter"]) == (
        "false", "true", "false", 'host.keyword:"probe-01"') for query in source)
    [lookup] = [query for query in queries if "ordering" not in query]
    assert (lookup["alert"], lookup["stamus"], lookup["discovery"]) == ("true", "true", "true")
    text = output.read_text()
    assert other_doc["_id"] not in text and plain["_id"] not in text
    assert "1 alert(s) of other probes than 'probe-01' ('probe-01-dmz')" in text
    assert TOKEN_MARKER not in text and "Traceback" not in text


@pytest.mark.parametrize("args, message", [
    ({"severty": [1]}, "stamus.scs.alerts does not know the option(s) severty; its options are: ca_path,"),
    ({"severity": "1,high"}, "Elements value for option 'severity' is of type str and we were unable to convert to int"),
])
def test_source_options_are_validated_at_the_start(emulator, tmp_path, args, message):
    rulebook = tmp_path / "bad.yml"
    rulebook.write_text(yaml.safe_dump([{"name": "Bad options", "hosts": "localhost",
                                         "sources": [{"stamus.scs.alerts": dict(args, interval=1)}],
                                         "rules": [{"name": "Show", "condition": "event.stamus_alert is defined",
                                                    "action": {"print_event": {}}}]}], sort_keys=False))
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {}}}}))
    emulator.clear_requests()
    proc = subprocess.run([os.path.join(BIN, "ansible-rulebook"), "--rulebook", str(rulebook), "-i", "inventory.yml"],
                          cwd=tmp_path, env=ansible_env(emulator.env()), capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert polls(emulator) == [] and TOKEN_MARKER not in proc.stdout + proc.stderr
