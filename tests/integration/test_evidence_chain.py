"""The whole evidence of one flow, end to end over HTTPS: the fetch_alert_pcap playbook pulls the pcap with the
flow's events, its extracted file and an annotated copy and signs the manifest; evidence_bundle packs it; the bundle,
unpacked elsewhere, passes verify_evidence, and fails it once a file in it is changed. A later run never re-signs a
manifest that was changed by hand."""

import hashlib
import json
import os
import subprocess
import tarfile

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from runner import BIN, TOKEN_MARKER, Emulator, ansible_env, run_tasks

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=21, probes=1, templates=1, alerts=10, flows=10, pcap="all",
                  token=TOKEN_MARKER) as emulator:
        yield emulator


def keys(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    private, public = tmp_path / "evidence.pem", tmp_path / "evidence.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    private.chmod(0o600)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def playbook(emulator, cwd, name, extra_vars):
    command = [os.path.join(BIN, "ansible-playbook"), "stamus.scs." + name, "-e", json.dumps(extra_vars)]
    return subprocess.run(command, cwd=str(cwd), env=ansible_env(emulator.env()), capture_output=True, text=True,
                          timeout=300, check=False)


def pull(emulator, cwd, alert, dest, private, **extra):
    return playbook(emulator, cwd, "fetch_alert_pcap", dict({
        "signature_id": alert["alert"]["signature_id"], "flow_id": alert["flow_id"], "probe": alert["host"],
        "dest": str(dest), "files": True, "annotated": True, "sign_key": str(private)}, **extra))


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_flow_pulled_signed_bundled_and_verified_elsewhere(tmp_path, emu):
    alert, events, info = emu.stored_http_alert()
    private, public = keys(tmp_path)
    dest, flow = tmp_path / "evidence", alert["flow_id"]

    pulled = pull(emu, tmp_path, alert, dest, private)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    directory = dest / alert["host"]
    expected = {"%d%s" % (flow, suffix) for suffix in (".pcap", ".json", ".json.sig", ".events.json",
                                                       ".annotated.pcapng", ".files")}
    assert set(os.listdir(directory)) == expected
    manifest = json.loads((directory / ("%d.json" % flow)).read_text())
    listed = [manifest["pcap"], manifest["flow_events"], manifest["annotated"]] + manifest["files"]
    assert all(sha256(directory / member["file"]) == member["sha256"] for member in listed)
    assert json.loads((directory / manifest["flow_events"]["file"]).read_text()) == events
    assert manifest["files"][0]["sha256"] == info["sha256"] and manifest["annotated"]["comments"] >= 1
    serialization.load_pem_public_key(public.read_bytes()).verify(
        (directory / ("%d.json.sig" % flow)).read_bytes(), (directory / ("%d.json" % flow)).read_bytes())

    bundles = tmp_path / "bundles"
    bundles.mkdir()
    run = run_tasks(tmp_path, emu.env(), [{"name": "Bundle", "register": "bundled", "stamus.scs.evidence_bundle": {
        "manifest": str(directory / ("%d.json" % flow)), "bundle": str(bundles)}}])
    bundled = run["bundled"]
    assert bundled["changed"] and sha256(tmp_path / bundled["bundle"]) == bundled["sha256"], bundled
    with tarfile.open(bundled["bundle"]) as archive:
        names = sorted(member.name for member in archive.getmembers() if member.isfile())
        archive.extractall(tmp_path / "elsewhere", filter="data")
    in_bundle = sorted("%s/%s" % (alert["host"], member["file"]) for member in listed)
    assert names == sorted(in_bundle + ["%s/%d.json" % (alert["host"], flow), "%s/%d.json.sig" % (alert["host"], flow)])

    unpacked = tmp_path / "elsewhere"
    checks = {"path": str(unpacked), "public_key": str(public), "require_signature": True}
    verified = playbook(emu, tmp_path, "verify_evidence", checks)
    assert verified.returncode == 0 and "1 flow(s): 1 ok, 0 with problems" in verified.stdout, verified.stdout
    copy = unpacked / alert["host"] / manifest["annotated"]["file"]
    copy.write_bytes(copy.read_bytes() + b"\0")
    tampered = playbook(emu, tmp_path, "verify_evidence", {"path": str(unpacked), "public_key": str(public)})
    assert tampered.returncode != 0
    assert "changed: %d.annotated.pcapng does not match its sha256" % flow in tampered.stdout + tampered.stderr
    assert TOKEN_MARKER not in pulled.stdout + pulled.stderr + verified.stdout + tampered.stdout


def test_a_changed_signed_manifest_is_not_completed_nor_re_signed(tmp_path, emu):
    """A rerun that asks for artifacts a manifest lacks rewrites it: first its signature must hold."""
    alert, _events, _info = emu.stored_http_alert()
    private, _public = keys(tmp_path)
    dest = tmp_path / "evidence"
    first = pull(emu, tmp_path, alert, dest, private, files=False)
    assert first.returncode == 0, first.stdout + first.stderr
    path = dest / alert["host"] / ("%d.json" % alert["flow_id"])
    manifest = json.loads(path.read_text())
    manifest["collected_by"]["custody"] = {"case": "INC-forged"}
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    changed = path.read_bytes()

    again = pull(emu, tmp_path, alert, dest, private)
    assert again.returncode != 0
    assert "does not match its signature" in again.stdout + again.stderr
    assert path.read_bytes() == changed and not (path.parent / ("%d.files" % alert["flow_id"])).exists()
