"""Signed manifests end to end over HTTPS: alert_pcap with sign_key fetches flows from the emulator and signs each
manifest, a later run merging more alerts re-signs, the verify_evidence playbook reports ok, then every kind of
tampering is reported and fails the play. No key material ever shows."""

import collections
import json
import os
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from runner import BIN, TOKEN_MARKER, Emulator, ansible_env, run_tasks

PASSPHRASE = "pass-MARKER-3e1f7a"
NO_ROTATION = ("--pcap-total-size", "100000000")


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=44, probes=2, templates=1, alerts=60, flows=20, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emulator:
        yield emulator


def shared_flows(emulator, count):
    """``count`` flows with at least two alerts with a capture file: their alerts, oldest first."""
    flows = collections.defaultdict(list)
    for alert in sorted(emulator.alerts(), key=lambda alert: alert["@timestamp"]):
        if alert.get("capture_file"):
            flows[(alert["host"], alert["flow_id"])].append(alert)
    chosen = [alerts for alerts in flows.values() if len(alerts) >= 2][:count]
    assert len(chosen) == count, "the emulator's seed gives too few shared flows"
    return chosen


def ed25519_keys(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    private = tmp_path / "evidence-key.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(PASSPHRASE.encode())))
    private.chmod(0o600)
    public = tmp_path / "evidence-key.pub.pem"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def key_lines(path):
    """The lines of a key file that carry key material (not its BEGIN/END lines)."""
    return [line for line in path.read_text().splitlines() if line and not line.startswith("-----")]


def assert_no_secret(text, private):
    assert PASSPHRASE not in text and TOKEN_MARKER not in text
    for line in key_lines(private):
        assert line not in text


def verify_play(emulator, cwd, **extra_vars):
    command = [os.path.join(BIN, "ansible-playbook"), "stamus.scs.verify_evidence", "-e", json.dumps(extra_vars)]
    return subprocess.run(command, cwd=str(cwd), env=ansible_env(emulator.env()), capture_output=True, text=True,
                          timeout=300, check=False)


def fetch(tmp_path, emulator, alerts, dest, **options):
    run = run_tasks(tmp_path, emulator.env(), [
        {"name": "Fetch", "stamus.scs.alert_pcap": dict({"alerts": alerts, "dest": str(dest)}, **options),
         "register": "fetched"},
    ], verbosity=3)
    return run, run["fetched"]


def flow_files(dest, alerts):
    directory = dest / alerts[0]["host"]
    return {kind: directory / ("%d%s" % (alerts[0]["flow_id"], suffix))
            for kind, suffix in (("pcap", ".pcap"), ("manifest", ".json"), ("sig", ".json.sig"))}


def test_signed_evidence_is_verified_and_every_tampering_is_reported(tmp_path, emu):
    private, public = ed25519_keys(tmp_path)
    flows = shared_flows(emu, 4)
    dest = tmp_path / "evidence"
    signing = {"sign_key": str(private), "sign_key_passphrase": PASSPHRASE}

    run, first = fetch(tmp_path, emu, [alerts[0] for alerts in flows], dest, **signing)
    assert first["summary"]["fetched"] == 4 and not first.get("failed"), first
    assert_no_secret(run.stdout + run.stderr + json.dumps(first), private)
    signatures = {}
    for alerts in flows:
        files = flow_files(dest, alerts)
        signatures[files["sig"]] = files["sig"].read_bytes()
        manifest = json.loads(files["manifest"].read_text())
        assert [alert["_id"] for alert in manifest["alerts"]] == [alerts[0]["_id"]]
        assert manifest["signed_by"]["format"] == "ed25519" and "key" in manifest["signed_by"]
        serialization.load_pem_public_key(public.read_bytes()).verify(signatures[files["sig"]],
                                                                      files["manifest"].read_bytes())

    run, merged = fetch(tmp_path, emu, [alert for alerts in flows for alert in alerts], dest, **signing)
    assert merged["summary"]["present"] == merged["summary"]["alerts"] and not merged.get("failed"), merged
    for alerts in flows:
        files = flow_files(dest, alerts)
        assert files["sig"].read_bytes() != signatures[files["sig"]]  # re-signed
        manifest = files["manifest"].read_bytes()
        assert len(json.loads(manifest)["alerts"]) == len(alerts)
        serialization.load_pem_public_key(public.read_bytes()).verify(files["sig"].read_bytes(), manifest)
    if shutil.which("openssl"):
        files = flow_files(dest, flows[0])
        checked = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(public), "-rawin", "-in",
                                  str(files["manifest"]), "-sigfile", str(files["sig"])], capture_output=True, check=False)
        assert checked.returncode == 0, checked.stderr

    clean = verify_play(emu, tmp_path, path=str(dest), public_key=str(public), require_signature=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.count(": OK (signature good") == 4 and "4 flow(s): 4 ok, 0 with problems" in clean.stdout

    # Tamper: a pcap byte, the manifest, a deleted signature, a swapped signature, a planted file.
    files = [flow_files(dest, alerts) for alerts in flows]
    data = bytearray(files[0]["pcap"].read_bytes())
    data[-1] ^= 0xFF
    files[0]["pcap"].write_bytes(bytes(data))
    files[1]["manifest"].write_text(files[1]["manifest"].read_text().replace('"probe"', '"probe" ', 1))
    files[2]["sig"].unlink()
    shutil.copyfile(files[1]["sig"], files[3]["sig"])
    planted = files[3]["pcap"].parent / ("%d.files" % flows[3][0]["flow_id"]) / ("ab" * 32)
    planted.parent.mkdir()
    planted.write_bytes(b"not from SCS")

    tampered = verify_play(emu, tmp_path, path=str(dest), public_key=str(public))
    output = tampered.stdout + tampered.stderr
    assert tampered.returncode != 0, output
    lines = {alerts[0]["flow_id"]: next(line for line in tampered.stdout.splitlines()
                                        if "%s/%d: " % (alerts[0]["host"], alerts[0]["flow_id"]) in line)
             for alerts in flows}
    assert all("TAMPERED" in line for line in lines.values()), lines
    assert "changed: %d.pcap does not match its sha256" % flows[0][0]["flow_id"] in output
    assert "signature bad" in lines[flows[1][0]["flow_id"]] and "signature missing" in lines[flows[2][0]["flow_id"]]
    assert "signature bad" in lines[flows[3][0]["flow_id"]]
    assert "unlisted: %d.files/%s is in the flow's files but no manifest lists it" % (flows[3][0]["flow_id"], "ab" * 32) in output
    assert "4 of 4 flow(s) have problems" in output
    assert_no_secret(output + clean.stdout + clean.stderr, private)


def test_the_key_is_checked_before_any_call_to_scs(tmp_path, emu):
    private, _public = ed25519_keys(tmp_path)
    alert = shared_flows(emu, 1)[0][0]
    emu.clear_requests()
    _run, result = fetch(tmp_path, emu, [alert], tmp_path / "evidence", sign_key=str(private))
    assert result["failed"] and "is encrypted: give its passphrase in sign_key_passphrase" in result["msg"]
    assert str(private) in result["msg"] and emu.requests() == []
    assert not (tmp_path / "evidence").exists() or not any((tmp_path / "evidence").rglob("*.json"))


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")
def test_an_ssh_key_signs_through_the_role_and_ssh_keygen_verifies(tmp_path, emu):
    key = tmp_path / "id_evidence"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", "soc@example.net", "-f", str(key)],
                   check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text("soc@example.net " + (tmp_path / "id_evidence.pub").read_text())
    alert = shared_flows(emu, 1)[0][0]
    dest = tmp_path / "evidence"
    command = [os.path.join(BIN, "ansible-playbook"), "stamus.scs.fetch_alert_pcap", "-e", json.dumps({
        "signature_id": alert["alert"]["signature_id"], "flow_id": alert["flow_id"], "probe": alert["host"],
        "dest": str(dest), "report": True, "sign_key": str(key), "sign_key_passphrase": PASSPHRASE})]
    pulled = subprocess.run(command, cwd=str(tmp_path), env=ansible_env(emu.env()), capture_output=True, text=True,
                            timeout=300, check=False)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    files = flow_files(dest, [alert])
    with open(files["manifest"], "rb") as manifest:
        by_hand = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "soc@example.net", "-n",
                                  "stamus.scs-evidence", "-s", str(files["sig"])], stdin=manifest, capture_output=True,
                                 check=False)
    assert by_hand.returncode == 0, by_hand.stderr
    verified = verify_play(emu, tmp_path, path=str(dest), allowed_signers=str(allowed), signer_identity="soc@example.net",
                           require_signature=True)
    assert verified.returncode == 0 and ": OK (signature good" in verified.stdout, verified.stdout + verified.stderr
    assert_no_secret(pulled.stdout + pulled.stderr + verified.stdout + verified.stderr, key)
