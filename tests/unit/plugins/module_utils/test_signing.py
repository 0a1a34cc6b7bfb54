"""Manifest signatures: the keys sign_key takes, the signature beside each manifest written, and independent checks
with openssl and ssh-keygen (skipped only when the tool is missing; the cryptography check always runs)."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from collection_path import collections_dir

from ansible_collections.stamus.scs.plugins.module_utils._evidence import MANIFEST_SCHEMA, FlowEvidence
from ansible_collections.stamus.scs.plugins.module_utils._signing import SSH_NAMESPACE, SigningError, SshKeygen, load_signer

PASSPHRASE = "correct horse battery staple"
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")


def pem_key(path, key=None, passphrase=None):
    key = key or ed25519.Ed25519PrivateKey.generate()
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    path.chmod(0o600)
    return key


def ssh_key(path, passphrase=""):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "evidence@test", "-f", str(path)],
                   check=True)
    return path


def flow_with_manifest(tmp_path, signer, alerts=("a",)):
    (tmp_path / "probe-01").mkdir(exist_ok=True)
    flow = FlowEvidence(str(tmp_path), "probe-01", 7, signer=signer)
    flow.write_manifest({"schema": MANIFEST_SCHEMA, "probe": "probe-01", "flow_id": 7, "recorded": "then"},
                        [{"_id": alert_id} for alert_id in alerts], 0o640)
    return flow


def test_ed25519_signature_is_the_raw_signature_of_the_manifest_bytes(tmp_path):
    key = pem_key(tmp_path / "key.pem")
    flow = flow_with_manifest(tmp_path, load_signer(str(tmp_path / "key.pem")))
    manifest = (tmp_path / "probe-01" / "7.json").read_bytes()
    signature = (tmp_path / "probe-01" / "7.json.sig").read_bytes()
    assert len(signature) == 64
    key.public_key().verify(signature, manifest)  # raises when it does not match
    with pytest.raises(InvalidSignature):
        key.public_key().verify(signature, manifest.replace(b'"a"', b'"b"'))
    with pytest.raises(InvalidSignature):
        ed25519.Ed25519PrivateKey.generate().public_key().verify(signature, manifest)
    recorded = json.loads(manifest)["signed_by"]
    assert recorded["format"] == "ed25519" and recorded["key"] == flow.signer.fingerprint
    assert oct(os.stat(tmp_path / "probe-01" / "7.json.sig").st_mode & 0o777) == "0o640"


def test_a_merge_re_signs_the_new_manifest(tmp_path):
    key = pem_key(tmp_path / "key.pem")
    flow = flow_with_manifest(tmp_path, load_signer(str(tmp_path / "key.pem")))
    first = (tmp_path / "probe-01" / "7.json.sig").read_bytes()
    assert flow.merge(lambda: [{"_id": "a"}, {"_id": "b"}], 0o640) == 1
    manifest = (tmp_path / "probe-01" / "7.json").read_bytes()
    second = (tmp_path / "probe-01" / "7.json.sig").read_bytes()
    assert second != first and [alert["_id"] for alert in json.loads(manifest)["alerts"]] == ["a", "b"]
    key.public_key().verify(second, manifest)


def test_a_changed_manifest_is_not_re_signed_by_a_merge(tmp_path):
    pem_key(tmp_path / "key.pem")
    flow = flow_with_manifest(tmp_path, load_signer(str(tmp_path / "key.pem")))
    path = tmp_path / "probe-01" / "7.json"
    path.write_bytes(path.read_bytes().replace(b'"then"', b'"now!"'))
    tampered = path.read_bytes()
    with pytest.raises(SigningError, match="does not match its signature"):
        flow.merge(lambda: [{"_id": "b"}], 0o640)
    assert path.read_bytes() == tampered  # left as found, for evidence_verify to report


def test_a_removed_signature_is_not_replaced_by_a_merge(tmp_path):
    pem_key(tmp_path / "key.pem")
    flow = flow_with_manifest(tmp_path, load_signer(str(tmp_path / "key.pem")))
    (tmp_path / "probe-01" / "7.json.sig").unlink()
    with pytest.raises(SigningError, match="says it is signed but has no signature"):
        flow.merge(lambda: [{"_id": "b"}], 0o640)
    assert not (tmp_path / "probe-01" / "7.json.sig").exists()


def test_a_failed_signature_leaves_no_new_manifest(tmp_path):
    pem_key(tmp_path / "key.pem")
    signer = load_signer(str(tmp_path / "key.pem"))
    flow = flow_with_manifest(tmp_path, signer)
    before = {name: (tmp_path / "probe-01" / name).read_bytes() for name in ("7.json", "7.json.sig")}

    def broken(_path):
        raise SigningError("sign_key %s: the signing failed" % signer.path)

    signer.sign_file = broken
    with pytest.raises(SigningError):
        flow.merge(lambda: [{"_id": "b"}], 0o640)
    assert {name: (tmp_path / "probe-01" / name).read_bytes() for name in before} == before
    assert sorted(os.listdir(tmp_path / "probe-01")) == ["7.json", "7.json.sig"]  # no temporary file either
    fresh = FlowEvidence(str(tmp_path), "probe-01", 8, signer=signer)
    with pytest.raises(SigningError):
        fresh.write_manifest({"schema": MANIFEST_SCHEMA}, [{"_id": "c"}], 0o640)
    assert not os.path.exists(fresh.manifest_path) and not os.path.exists(fresh.manifest_path + ".sig")


def test_an_unsigned_rewrite_drops_the_signature_that_no_longer_matches(tmp_path):
    pem_key(tmp_path / "key.pem")
    flow = flow_with_manifest(tmp_path, load_signer(str(tmp_path / "key.pem")))
    unsigned = FlowEvidence(str(tmp_path), "probe-01", 7)
    assert unsigned.merge(lambda: [{"_id": "b"}], 0o640) == 1
    assert not os.path.exists(flow.manifest_path + ".sig")
    assert "signed_by" not in json.loads((tmp_path / "probe-01" / "7.json").read_text())


@needs_openssl
def test_openssl_pkeyutl_verifies_the_signature(tmp_path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(tmp_path / "key.pem")], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(tmp_path / "key.pem"), "-pubout", "-out", str(tmp_path / "pub.pem")],
                   check=True)
    flow = flow_with_manifest(tmp_path, load_signer(str(tmp_path / "key.pem")))

    def openssl_verify(message):
        return subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin",
                               "-in", str(message), "-sigfile", flow.manifest_path + ".sig"],
                              capture_output=True, check=False)

    assert openssl_verify(flow.manifest_path).returncode == 0
    changed = tmp_path / "changed.json"
    data = bytearray((tmp_path / "probe-01" / "7.json").read_bytes())
    data[10] ^= 1
    changed.write_bytes(bytes(data))
    assert openssl_verify(changed).returncode != 0


@needs_ssh_keygen
@pytest.mark.parametrize("passphrase", ["", PASSPHRASE])
def test_ssh_keygen_verifies_an_ssh_signature(tmp_path, passphrase, ansible_module):
    key = ssh_key(tmp_path / "id_evidence", passphrase)
    flow = flow_with_manifest(tmp_path, load_signer(str(key), passphrase or None, SshKeygen(ansible_module)))
    signature = (tmp_path / "probe-01" / "7.json.sig").read_bytes()
    assert signature.startswith(b"-----BEGIN SSH SIGNATURE-----")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text("evidence@test " + (tmp_path / "id_evidence.pub").read_text())

    def ssh_verify(message, namespace=SSH_NAMESPACE):
        with open(message, "rb") as handle:
            return subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "evidence@test", "-n",
                                   namespace, "-s", flow.manifest_path + ".sig"], stdin=handle, capture_output=True,
                                  check=False)

    assert ssh_verify(flow.manifest_path).returncode == 0
    assert ssh_verify(flow.manifest_path, namespace="file").returncode != 0
    changed = tmp_path / "changed.json"
    changed.write_bytes((tmp_path / "probe-01" / "7.json").read_bytes().replace(b'"a"', b'"z"'))
    assert ssh_verify(changed).returncode != 0
    assert json.loads((tmp_path / "probe-01" / "7.json").read_text())["signed_by"]["namespace"] == SSH_NAMESPACE
    assert flow.merge(lambda: [{"_id": "b"}], 0o640) == 1  # the merge checks the SSH signature, then re-signs
    assert ssh_verify(flow.manifest_path).returncode == 0


def test_keys_that_cannot_sign_get_a_clear_error_naming_the_file_never_its_content(tmp_path, ansible_module):
    cases = []
    missing = tmp_path / "missing.pem"
    cases.append((missing, None, "does not exist"))
    encrypted = tmp_path / "encrypted.pem"
    pem_key(encrypted, passphrase=PASSPHRASE)
    cases.append((encrypted, None, "is encrypted: give its passphrase in sign_key_passphrase"))
    cases.append((encrypted, "wrong", "cannot be read with the sign_key_passphrase given"))
    plain = tmp_path / "plain.pem"
    pem_key(plain)
    cases.append((plain, PASSPHRASE, "is not encrypted, but sign_key_passphrase is set"))
    other = tmp_path / "rsa.pem"
    pem_key(other, key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    cases.append((other, None, "not an Ed25519 key"))
    public = tmp_path / "public.pem"
    public.write_bytes(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    cases.append((public, None, "is not a private key this module can sign with"))
    directory = tmp_path / "keys"
    directory.mkdir()
    cases.append((directory, None, "is not a regular file"))
    if shutil.which("ssh-keygen"):
        cases.append((ssh_key(tmp_path / "id_encrypted", PASSPHRASE), None, "is encrypted"))
        cases.append((tmp_path / "id_encrypted", "wrong", "cannot read sign_key"))
    for path, passphrase, expected in cases:
        with pytest.raises(SigningError) as raised:
            load_signer(str(path), passphrase, SshKeygen(ansible_module))
        message = str(raised.value)
        assert expected in message and str(path) in message, (path, message)
        body = path.read_bytes() if path.is_file() else b""
        for line in body.splitlines()[1:-1]:
            assert line.decode() not in message
        assert PASSPHRASE not in message


def test_an_unreadable_key_names_the_fix(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    key = tmp_path / "key.pem"
    pem_key(key)
    key.chmod(0)
    with pytest.raises(SigningError, match="Give the user that runs the module read access"):
        load_signer(str(key))


def test_an_ssh_key_without_ssh_keygen_names_the_fix(tmp_path, monkeypatch, ansible_module):
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "id_evidence"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                       serialization.NoEncryption()))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SigningError, match="ssh-keygen is not on the PATH.*install OpenSSH's client"):
        load_signer(str(path), None, SshKeygen(ansible_module))


@pytest.mark.skipif(shutil.which("timeout") is None, reason="coreutils' timeout is not installed")
def test_an_ssh_keygen_that_hangs_is_stopped_with_a_clear_error(tmp_path, monkeypatch, ansible_module):
    """run_command has no time limit: coreutils' timeout stops an ssh-keygen that waits (a security key's touch)."""
    hanging = tmp_path / "bin" / "ssh-keygen"
    hanging.parent.mkdir()
    hanging.write_text("#!/bin/sh\nexec sleep 60\n")
    hanging.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (hanging.parent, os.environ["PATH"]))
    ssh_keygen = SshKeygen(ansible_module)
    assert ssh_keygen.path == str(hanging)
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}")
    with pytest.raises(SigningError, match="ssh-keygen did not finish with .*manifest.json within 1 seconds"):
        ssh_keygen.run(["-Y", "sign"], str(manifest), seconds=1)


def test_cryptography_is_imported_only_when_a_key_is_used():
    """Every alert_pcap run imports _signing; cryptography costs it about 0.1 s and 11 MiB, so only a key loads it."""
    code = ("import sys\n"
            "import ansible_collections.stamus.scs.plugins.modules.alert_pcap\n"
            "import ansible_collections.stamus.scs.plugins.modules.evidence_verify\n"
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'cryptography'))")
    done = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=collections_dir()),
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
