"""Manifest integrity: evidence signed by alert_pcap (sign_key) over HTTPS, then tampered with on disk in every way a
custody chain has to catch; stamus.scs.evidence_verify (run by ansible-playbook) must report each one by name, and
alert_pcap must never re-sign a manifest that was changed since it signed it."""

import collections
import json
import os
import shutil
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # inputkit, under --import-mode=importlib

from inputkit import has_traceback, result_has_traceback  # noqa: E402
from runner import TOKEN_MARKER, Emulator, run_tasks  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Manifest integrity"
NO_ROTATION = ("--pcap-total-size", "100000000")
PASSPHRASE = "pass-MARKER-88c1d0"


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=57, probes=2, templates=1, alerts=60, flows=24, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emulator:
        yield emulator


def flows_of(emulator):
    """Flows with at least two alerts with a capture file (their alerts, oldest first)."""
    flows = collections.defaultdict(list)
    for alert in sorted(emulator.alerts(), key=lambda alert: alert["@timestamp"]):
        if alert.get("capture_file"):
            flows[(alert["host"], alert["flow_id"])].append(alert)
    return [alerts for alerts in flows.values() if len(alerts) >= 2]


def keys(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    private = tmp_path / "key.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(PASSPHRASE.encode())))
    public = tmp_path / "key.pub.pem"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def paths(dest, alert, suffix):
    return dest / alert["host"] / ("%d%s" % (alert["flow_id"], suffix))


def verify(tmp_path, emulator, dest, public, **options):
    run = run_tasks(tmp_path, emulator.env(), [
        {"name": "Verify", "stamus.scs.evidence_verify": dict({"path": str(dest), "public_key": str(public)}, **options),
         "register": "verified"},
    ])
    assert not result_has_traceback(run["verified"]) and not has_traceback(run.stdout, run.stderr)
    return run, run["verified"]


def problem_of(result, alert):
    [flow] = [flow for flow in result["flows"] if flow["flow_id"] == alert["flow_id"] and flow["probe"] == alert["host"]]
    return flow


def test_every_tampering_of_a_signed_tree_is_reported(emu, tmp_path, ledger):
    private, public = keys(tmp_path)
    flows = flows_of(emu)[:7]
    assert len(flows) == 7
    dest = tmp_path / "evidence"
    run = run_tasks(tmp_path, emu.env(), [{"name": "Fetch", "stamus.scs.alert_pcap": {
        "alerts": [alerts[0] for alerts in flows], "dest": str(dest), "sign_key": str(private),
        "sign_key_passphrase": PASSPHRASE}, "register": "fetched"}], verbosity=3)
    assert run["fetched"]["summary"]["fetched"] == 7 and not run["fetched"].get("failed"), run["fetched"]
    secrets = [PASSPHRASE, TOKEN_MARKER] + [line for line in private.read_text().splitlines() if "-----" not in line]
    assert not [secret for secret in secrets if secret in run.stdout + run.stderr + json.dumps(run["fetched"])]
    _run, clean = verify(tmp_path, emu, dest, public, require_signature=True)
    assert not clean.get("failed") and clean["summary"]["ok"] == 7 and clean["summary"]["good"] == 7, clean

    first = [alerts[0] for alerts in flows]
    data = bytearray(paths(dest, first[0], ".pcap").read_bytes())
    data[len(data) // 2] ^= 0x01
    paths(dest, first[0], ".pcap").write_bytes(bytes(data))
    manifest = paths(dest, first[1], ".json")
    manifest.write_text(manifest.read_text().replace('"pcap"', '"pcap" ', 1))
    paths(dest, first[2], ".json.sig").unlink()
    shutil.copyfile(paths(dest, first[0], ".json.sig"), paths(dest, first[3], ".json.sig"))
    files = paths(dest, first[4], ".files")
    files.mkdir()
    (files / ("0" * 64)).write_bytes(b"planted")
    crafted = paths(dest, first[5], ".json")
    document = json.loads(crafted.read_text())
    document["planted"] = {"file": "../../../../etc/passwd", "sha256": "0" * 64}
    crafted.write_text(json.dumps(document))
    pcap = paths(dest, first[6], ".pcap")
    pcap.rename(tmp_path / "moved.pcap")
    os.symlink(str(tmp_path / "moved.pcap"), str(pcap))

    _run, tampered = verify(tmp_path, emu, dest, public)
    assert tampered["failed"] and "7 of 7 flow(s)" in tampered["msg"], tampered.get("msg")
    kinds = [sorted({problem["problem"] for problem in problem_of(tampered, alert)["problems"]}) for alert in first]
    assert kinds == [["changed"], ["bad_signature"], ["unsigned"], ["bad_signature"], ["unlisted"],
                     ["bad_signature", "hostile_path"], ["unreadable"]], kinds
    changed = problem_of(tampered, first[0])["problems"][0]
    assert changed["expected"] != changed["actual"] and len(changed["actual"]) == 64
    ledger.checked("no traceback", 3)
    ledger.checked("no token leak")
    observed = {flow: problem_of(tampered, alert)["problems"][0]["message"] for flow, alert in zip(range(7), first)}
    for index, scenario in enumerate(["A byte of a signed flow's pcap is flipped",
                                      "A signed manifest is edited (one space added)",
                                      "A manifest's signature is deleted",
                                      "Another flow's signature is copied over a manifest's",
                                      "A file is planted in a flow's .files directory",
                                      "A manifest is crafted to list ../../../../etc/passwd",
                                      "A listed pcap is replaced by a symbolic link"]):
        problem = problem_of(tampered, first[index])
        ledger.record(CATEGORY, scenario, "evidence_verify", "clear error",
                      "flow %s, signature %s: %s" % (problem["status"], problem["signature"], observed[index][:160]))


def test_a_changed_manifest_is_never_re_signed_by_a_later_run(emu, tmp_path, ledger):
    private, public = keys(tmp_path)
    alerts = flows_of(emu)[8]
    dest = tmp_path / "evidence"
    signing = {"dest": str(dest), "sign_key": str(private), "sign_key_passphrase": PASSPHRASE}
    run = run_tasks(tmp_path, emu.env(), [
        {"name": "First alert", "stamus.scs.alert_pcap": dict(signing, alerts=alerts[:1]), "register": "first"}])
    assert run["first"]["summary"]["fetched"] == 1
    manifest = paths(dest, alerts[0], ".json")
    manifest.write_text(manifest.read_text().replace('"collected_by"', '"collected_by" ', 1))
    tampered = manifest.read_bytes()
    run = run_tasks(tmp_path, emu.env(), [
        {"name": "Every alert", "stamus.scs.alert_pcap": dict(signing, alerts=alerts), "register": "merged"}])
    merged = run["merged"]
    assert merged["failed"] and "is not re-signed nor changed: it may have been tampered with" in merged["msg"], merged
    assert manifest.read_bytes() == tampered and not result_has_traceback(merged)
    _run, verified = verify(tmp_path, emu, dest, public)
    assert problem_of(verified, alerts[0])["signature"] == "bad"
    ledger.checked("no traceback")
    ledger.record(CATEGORY, "A later run would merge alerts into a signed manifest that was edited", "alert_pcap",
                  "clear error", merged["msg"][:220])


def test_a_key_that_cannot_sign_fails_before_any_call_to_scs(emu, tmp_path, ledger):
    private, _public = keys(tmp_path)
    alert = flows_of(emu)[9][0]
    emu.clear_requests()
    args = {"alerts": [alert], "dest": str(tmp_path / "e"), "sign_key": str(private), "sign_key_passphrase": "wrong"}
    run = run_tasks(tmp_path, emu.env(), [{"name": "Wrong passphrase", "stamus.scs.alert_pcap": args, "register": "wrong"}])
    wrong = run["wrong"]
    assert wrong["failed"] and "cannot be read with the sign_key_passphrase given" in wrong["msg"], wrong
    assert emu.requests() == [] and "wrong" not in wrong["msg"].replace("(wrong passphrase", "")
    ledger.checked("no traceback")
    ledger.record(CATEGORY, "sign_key given with a wrong passphrase", "alert_pcap", "clear error", wrong["msg"][:200])
