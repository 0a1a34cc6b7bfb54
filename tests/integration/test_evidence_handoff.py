"""evidence_bundle and the evidence_handoff playbook end to end: alert_pcap fetches a flow from the HTTPS emulator,
the playbook bundles it and hands it to fakes of TheHive and Splunk HEC over HTTPS (the emulator's test CA)."""

import hashlib
import json
import os
import subprocess
import sys
import tarfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # runner, fake_handoff, under --import-mode=importlib
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reliability"))

from fake_handoff import FakeHandoff  # noqa: E402
from injectkit import Payloads  # noqa: E402
from runner import BIN, REPO, TOKEN_MARKER, Emulator, ansible_env, run_tasks  # noqa: E402

pytestmark = pytest.mark.integration

API_KEY = "thehive-key-MARKER-81d0c7"
HEC_TOKEN = "hec-token-MARKER-3a9e55"
CASE = "~40964200"
SIGNATURE = 9000077


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=15, probes=1, templates=1, alerts=20, flows=10, pcap="all", token=TOKEN_MARKER) as emulator:
        yield emulator


@pytest.fixture
def handoff(emu):
    with FakeHandoff(emu.ca_path, API_KEY, HEC_TOKEN) as fake:
        yield fake


def fetch(tmp_path, emulator, alert_id):
    """The flow of ``alert_id`` fetched with alert_pcap; its result."""
    run = run_tasks(tmp_path, emulator.env(), [{
        "name": "Fetch", "stamus.scs.alert_pcap": {"alert_ids": [alert_id], "dest": str(tmp_path / "evidence")},
        "register": "fetched"}])
    result = run["fetched"]
    assert not result.get("failed"), result
    assert result["results"][0]["outcome"] == "fetched", result["results"]
    return result["results"][0]


def handoff_play(tmp_path, emulator, fake, *args, api_key=API_KEY):
    env = dict(emulator.env(), THEHIVE_URL=fake.url, THEHIVE_API_KEY=api_key, SPLUNK_HEC_URL=fake.url + "/",
               SPLUNK_HEC_TOKEN=HEC_TOKEN)
    return subprocess.run([os.path.join(BIN, "ansible-playbook"), os.path.join(REPO, "playbooks", "evidence_handoff.yml"),
                           "-e", "case_id=%s" % CASE, "-e", "ca_path=%s" % emulator.ca_path] + list(args),
                          cwd=str(tmp_path), env=ansible_env(env), capture_output=True, text=True, timeout=300,
                          check=False)


def assert_no_secret(proc):
    for secret in (API_KEY, HEC_TOKEN, TOKEN_MARKER):
        assert secret not in proc.stdout + proc.stderr


def test_a_fetched_flow_is_bundled_attached_to_thehive_and_summarised_to_hec(tmp_path, emu, handoff):
    alert = next(alert for alert in emu.alerts() if alert.get("capture_file"))
    fetched = fetch(tmp_path, emu, alert["_id"])
    proc = handoff_play(tmp_path, emu, handoff, "-e", "probe=%s" % alert["host"], "-e", "flow_id=%d" % alert["flow_id"],
                        "-vvv")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert_no_secret(proc)

    bundle = tmp_path / "bundles" / ("%s-%d.tar.gz" % (alert["host"], alert["flow_id"]))
    sha256 = hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert "%s  %s" % (sha256, bundle) in proc.stdout  # printed in sha256sum's format
    checked = subprocess.run(["sha256sum", "-c", bundle.name + ".sha256"], cwd=str(bundle.parent), capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with tarfile.open(str(bundle)) as tar:
        names = tar.getnames()
        pcap = tar.extractfile("%s/%d.pcap" % (alert["host"], alert["flow_id"])).read()
    # The manifest first, then what it lists in path order: the events alert_pcap saves by default, the pcap.
    assert names == [alert["host"]] + ["%s/%d%s" % (alert["host"], alert["flow_id"], suffix)
                                       for suffix in (".json", ".events.json", ".pcap")]
    assert hashlib.sha256(pcap).hexdigest() == fetched["sha256"]

    [observable] = handoff.observables
    filename, content_type, data = observable["fields"]["attachment"]
    assert observable["case"] == CASE and observable["authorization"] == "Bearer " + API_KEY
    assert (filename, content_type, hashlib.sha256(data).hexdigest()) == (bundle.name, "application/gzip", sha256)
    assert observable["json"]["dataType"] == "file" and sha256 in observable["json"]["message"]
    assert "probe:%s" % alert["host"] in observable["json"]["tags"]

    [event] = handoff.events
    assert event["authorization"] == "Splunk " + HEC_TOKEN
    summary = event["body"]["event"]
    assert event["body"]["sourcetype"] == "stamus:scs:evidence"
    assert (summary["probe"], summary["flow_id"], summary["bundle_sha256"], summary["bundle_size"]) == (
        alert["host"], alert["flow_id"], sha256, len(bundle.read_bytes()))
    assert summary["signatures"] == [alert["alert"]["signature"]] and summary["thehive_observable"] == "~4096"
    assert {member["name"]: member["sha256"] for member in summary["members"]}[
        "%s/%d.pcap" % (alert["host"], alert["flow_id"])] == fetched["sha256"]

    # Bundled again, later and elsewhere (another directory, given as a file name): the same bytes.
    other = tmp_path / "again"
    other.mkdir()
    again = handoff_play(tmp_path, emu, handoff, "-e", "manifest=%s" % fetched["manifest"],
                         "-e", "bundle=%s" % (other / "copy.tar.gz"))
    assert again.returncode == 0, again.stdout[-3000:]
    assert (other / "copy.tar.gz").read_bytes() == bundle.read_bytes()


def test_a_jinja_payload_in_a_signature_reaches_thehive_and_hec_as_data(tmp_path, emu, handoff):
    markers = tmp_path / "markers"
    markers.mkdir()
    payloads = Payloads(markers)
    signature = "ET TROJAN %s %s" % (payloads.next(), payloads.next())
    alert = emu.add_alerts(probe="probe-01", count=1, severity=1,
                           fields={"alert": {"signature": signature, "signature_id": SIGNATURE}})[0]
    assert alert["alert"]["signature"] == signature and alert["capture_file"]
    fetched = fetch(tmp_path, emu, alert["_id"])
    proc = handoff_play(tmp_path, emu, handoff, "-e", "manifest=%s" % fetched["manifest"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert payloads.fired() == [], "a payload ran: %s" % payloads.fired()
    [observable] = handoff.observables
    assert signature in observable["json"]["message"]
    [event] = handoff.events
    assert signature in event["body"]["event"]["signatures"]


@pytest.mark.parametrize("failure", ["refused key", "server error"])
def test_a_failing_thehive_gives_a_clear_error_without_the_key(tmp_path, emu, handoff, failure):
    alert = next(alert for alert in emu.alerts() if alert.get("capture_file"))
    fetched = fetch(tmp_path, emu, alert["_id"])
    if failure == "server error":
        handoff.fail_thehive = (500, {"type": "InternalError", "message": "database \x1b[31mdown\x07 " + API_KEY})
        proc = handoff_play(tmp_path, emu, handoff, "-e", "manifest=%s" % fetched["manifest"])
    else:
        proc = handoff_play(tmp_path, emu, handoff, "-e", "manifest=%s" % fetched["manifest"], api_key="wrong-MARKER-key")
        assert "wrong-MARKER-key" not in proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert_no_secret(proc)
    assert "TheHive did not attach" in proc.stdout and "case %s" % CASE in proc.stdout
    if failure == "server error":
        assert "HTTP 500" in proc.stdout and "database ?[31mdown? ********" in proc.stdout and "\x1b" not in proc.stdout
    else:
        assert "HTTP 401" in proc.stdout and "Authentication failure" in proc.stdout
    assert handoff.observables == [] and handoff.events == []  # nothing posted to HEC after the failure
    assert os.path.exists(os.path.join(str(tmp_path), "bundles", "%s-%d.tar.gz" % (alert["host"], alert["flow_id"])))


def test_check_mode_sends_nothing_and_bad_arguments_are_named(tmp_path, emu, handoff):
    alert = next(alert for alert in emu.alerts() if alert.get("capture_file"))
    fetched = fetch(tmp_path, emu, alert["_id"])
    proc = handoff_play(tmp_path, emu, handoff, "-e", "manifest=%s" % fetched["manifest"], "--check")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "check mode: not written" in proc.stdout and not (tmp_path / "bundles").exists()
    assert handoff.calls == []
    bad = handoff_play(tmp_path, emu, handoff, "-e", "probe=../etc", "-e", "flow_id=1")
    assert bad.returncode != 0 and "Give the flow as -e probe=" in bad.stdout and handoff.calls == []
    tampered = json.loads(open(fetched["manifest"]).read())
    with open(fetched["pcap"], "ab") as handle:
        handle.write(b"\0")
    proc = handoff_play(tmp_path, emu, handoff, "-e", "manifest=%s" % fetched["manifest"])
    assert proc.returncode != 0 and "has changed since the manifest" in proc.stdout and fetched["pcap"] in proc.stdout
    assert tampered["pcap"]["sha256"] == fetched["sha256"] and handoff.calls == []
