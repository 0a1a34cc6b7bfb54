"""evidence_verify's tree check on crafted trees: every listed member by the generic rule (pcap, flow_events, fetched
files, annotated), signatures, planted files, hostile paths, malformed manifests."""

import hashlib
import json
import os
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ansible_collections.stamus.scs.plugins.module_utils._evidence import MANIFEST_SCHEMA, FlowEvidence
from ansible_collections.stamus.scs.plugins.module_utils._signing import SshKeygen, load_signer
from ansible_collections.stamus.scs.plugins.module_utils._verify_tree import Keys, TreeCheck

FLOW = 123


def sha(data):
    return hashlib.sha256(data).hexdigest()


def write_key(path):
    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return key


def full_flow(root, signer=None, extra=None):
    """A flow with every member of the contract: pcap, events, two fetched files and one not fetched, annotated."""
    probe = root / "probe-01"
    probe.mkdir(parents=True, exist_ok=True)
    (probe / ("%d.files" % FLOW)).mkdir(exist_ok=True)
    contents = {"%d.pcap" % FLOW: b"\xd4\xc3\xb2\xa1pcap", "%d.events.json" % FLOW: b'{"Alert": []}\n',
                "%d.annotated.pcapng" % FLOW: b"\x0a\x0d\x0d\x0apcapng"}
    files = [b"first file", b"second file"]
    for data in files:
        contents["%d.files/%s" % (FLOW, sha(data))] = data
    for name, data in contents.items():
        (probe / name).write_bytes(data)

    def member(name, **more):
        return dict({"file": name, "sha256": sha(contents[name]), "size": len(contents[name])}, **more)

    manifest = {"schema": MANIFEST_SCHEMA, "probe": "probe-01", "flow_id": FLOW, "pcap": member("%d.pcap" % FLOW),
                "flow_events": member("%d.events.json" % FLOW, events=3), "annotated": member("%d.annotated.pcapng" % FLOW),
                "files": [member("%d.files/%s" % (FLOW, sha(data)), outcome="fetched") for data in files]
                + [{"sha256": sha(b"elsewhere"), "outcome": "too_large", "message": "larger than max_file_size"}]}
    manifest.update(extra or {})
    FlowEvidence(str(root), "probe-01", FLOW, signer=signer).write_manifest(manifest, [{"_id": "a"}], 0o640)
    return probe


def check(root, keys=None, require_signature=False):
    result = TreeCheck(str(root), keys or Keys(), require_signature).run()
    flows = {flow["flow_id"]: flow for flow in result["flows"]}
    return result, flows


def problems(flow):
    return sorted((problem["problem"], problem["file"]) for problem in flow["problems"])


@pytest.fixture
def signed(tmp_path):
    key = write_key(tmp_path / "key.pem")
    probe = full_flow(tmp_path / "evidence", load_signer(str(tmp_path / "key.pem")))
    return tmp_path / "evidence", probe, Keys(key.public_key())


def test_a_signed_tree_with_every_member_is_ok(signed):
    root, _probe, keys = signed
    result, flows = check(root, keys, require_signature=True)
    assert flows[FLOW]["status"] == "ok" and flows[FLOW]["signature"] == "good", flows
    assert flows[FLOW]["files_checked"] == 5  # pcap, events, annotated, the two fetched files
    assert result["summary"]["ok"] == 1 and result["summary"]["tampered"] == 0 and result["stray"] == []


def test_another_key_is_a_bad_signature(signed):
    root, _probe, _keys = signed
    _result, flows = check(root, Keys(ed25519.Ed25519PrivateKey.generate().public_key()))
    assert flows[FLOW]["signature"] == "bad" and problems(flows[FLOW]) == [("bad_signature", None)]


@pytest.mark.parametrize("name", ["%d.pcap" % FLOW, "%d.events.json" % FLOW, "%d.annotated.pcapng" % FLOW, "files"])
def test_a_changed_byte_in_any_listed_file_is_reported_with_both_hashes(signed, name):
    root, probe, keys = signed
    if name == "files":
        name = next("%d.files/%s" % (FLOW, inner) for inner in os.listdir(probe / ("%d.files" % FLOW)))
    data = bytearray((probe / name).read_bytes())
    data[-1] ^= 0x01
    (probe / name).write_bytes(bytes(data))
    _result, flows = check(root, keys)
    [problem] = flows[FLOW]["problems"]
    assert problem["problem"] == "changed" and problem["file"] == name and problem["actual"] == sha(bytes(data))
    assert flows[FLOW]["signature"] == "good"


def test_a_changed_byte_in_the_manifest_breaks_its_signature(signed):
    root, probe, keys = signed
    manifest = probe / ("%d.json" % FLOW)
    manifest.write_bytes(manifest.read_bytes().replace(b'"_id": "a"', b'"_id": "b"'))
    _result, flows = check(root, keys)
    assert flows[FLOW]["signature"] == "bad" and flows[FLOW]["status"] == "tampered"


def test_a_deleted_signature_is_missing_even_when_not_required(signed):
    root, probe, keys = signed
    (probe / ("%d.json.sig" % FLOW)).unlink()
    _result, flows = check(root, keys)
    assert flows[FLOW]["signature"] == "missing" and problems(flows[FLOW]) == [("unsigned", None)]


def test_an_unsigned_manifest_is_a_problem_only_when_signatures_are_required(tmp_path):
    full_flow(tmp_path)
    assert check(tmp_path)[1][FLOW]["status"] == "ok"
    _result, flows = check(tmp_path, require_signature=True)
    assert problems(flows[FLOW]) == [("unsigned", None)]


def test_planted_files_are_reported_on_their_flow_or_as_stray(signed):
    root, probe, keys = signed
    planted = "%d.files/%s" % (FLOW, sha(b"planted"))
    (probe / planted).write_bytes(b"planted")
    (probe / ("%d.pcap.old" % FLOW)).write_bytes(b"x")
    (probe / "999.pcap").write_bytes(b"x")
    (root / "probe-02").mkdir()
    os.symlink("/etc", str(root / "probe-02" / "5.json"))
    _result, flows = check(root, keys)
    assert problems(flows[FLOW]) == sorted([("unlisted", "%d.pcap.old" % FLOW), ("unlisted", planted)])
    result, flows = check(root, keys)
    assert flows[5]["problems"][0]["problem"] == "malformed" and "symbolic link" in flows[5]["problems"][0]["message"]
    assert [entry["path"] for entry in result["stray"]] == [str(probe / "999.pcap")]


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "/etc/passwd", "%d.files/../../x" % FLOW, "124.pcap",
                                     "%d.files/%s" % (FLOW, "A" * 64), "%d.pcap\n" % FLOW, ["%d.pcap" % FLOW], None])
def test_hostile_paths_in_a_crafted_manifest_are_refused_unopened(tmp_path, hostile):
    outside = tmp_path / "outside"
    outside.write_bytes(b"secret")
    full_flow(tmp_path / "evidence", extra={"planted": {"file": hostile, "sha256": sha(b"secret")}})
    _result, flows = check(tmp_path / "evidence")
    hostile_problems = [problem for problem in flows[FLOW]["problems"] if problem["problem"] == "hostile_path"]
    assert len(hostile_problems) == 1 and "\n" not in json.dumps(hostile_problems[0]["file"]).replace("\\n", "")
    assert flows[FLOW]["files_checked"] == 5


def test_a_symlinked_listed_file_is_not_followed(tmp_path):
    probe = full_flow(tmp_path)
    target = tmp_path / "elsewhere"
    (probe / ("%d.pcap" % FLOW)).rename(target)
    os.symlink(str(target), str(probe / ("%d.pcap" % FLOW)))
    os.rename(str(probe / ("%d.files" % FLOW)), str(tmp_path / "files"))
    os.symlink(str(tmp_path / "files"), str(probe / ("%d.files" % FLOW)))
    _result, flows = check(tmp_path)
    kinds = problems(flows[FLOW])
    assert ("unreadable", "%d.pcap" % FLOW) in kinds
    assert [kind for kind, name in kinds if name and name.startswith("%d.files/" % FLOW)] == ["unreadable", "unreadable"]


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b'{"schema": "other", "alerts": []}',
                                     b'{"alerts": [], "schema": "%s", "probe": "probe-02", "flow_id": 123, '
                                     b'"pcap": {"file": "123.pcap", "sha256": "%s"}}'
                                     % (MANIFEST_SCHEMA.encode(), sha(b"\xd4\xc3\xb2\xa1pcap").encode())])
def test_malformed_manifests_are_reported(tmp_path, content):
    probe = full_flow(tmp_path)
    (probe / ("%d.json" % FLOW)).write_bytes(content)
    _result, flows = check(tmp_path)
    assert "malformed" in [problem["problem"] for problem in flows[FLOW]["problems"]], flows


def test_a_missing_listed_file_is_reported(signed):
    root, probe, keys = signed
    (probe / ("%d.events.json" % FLOW)).unlink()
    _result, flows = check(root, keys)
    assert problems(flows[FLOW]) == [("missing", "%d.events.json" % FLOW)]


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")
def test_ssh_signatures_are_checked_against_allowed_signers(tmp_path, ansible_module):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    ssh_keygen = SshKeygen(ansible_module)
    full_flow(tmp_path / "evidence", load_signer(str(tmp_path / "id"), None, ssh_keygen))
    allowed = tmp_path / "allowed_signers"
    allowed.write_text("soc@example.net " + (tmp_path / "id.pub").read_text()
                       + "intruder@example.net " + (tmp_path / "other.pub").read_text())
    assert check(tmp_path / "evidence", Keys(allowed_signers=str(allowed), identity="soc@example.net",
                                             ssh_keygen=ssh_keygen))[1][FLOW]["signature"] == "good"
    _result, flows = check(tmp_path / "evidence", Keys(allowed_signers=str(allowed), identity="intruder@example.net",
                                                       ssh_keygen=ssh_keygen))
    assert flows[FLOW]["signature"] == "bad"
    _result, flows = check(tmp_path / "evidence", Keys(public_key=ed25519.Ed25519PrivateKey.generate().public_key()),
                           require_signature=True)
    assert flows[FLOW]["signature"] == "unchecked" and problems(flows[FLOW]) == [("unsigned", None)]
