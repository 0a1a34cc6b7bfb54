"""The bundler against crafted evidence: every manifest member of the issue 15 contract (pcap, flow_events, files,
annotated, the .sig), read back with Python's tarfile, written independently of the bundler."""

import calendar
import gzip
import hashlib
import io
import os
import tarfile
import tracemalloc

import pytest

from ansible_collections.stamus.scs.plugins.module_utils import _bundle
from ansible_collections.stamus.scs.plugins.module_utils._bundle import Evidence, bundle_digest, write_bundle
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsEvidenceError
from ansible_collections.stamus.scs.plugins.module_utils._evidence import MANIFEST_SCHEMA, manifest_chunks

FLOW = 2077942411095108
RECORDED = "2026-05-02T10:00:03.120000Z"
EXTRACTED = b"MZ\x90\x00 an extracted file"
EXTRACTED_SHA = hashlib.sha256(EXTRACTED).hexdigest()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def write_manifest(directory, manifest, alerts=()):
    path = os.path.join(directory, "%d.json" % manifest["flow_id"])
    with open(path, "wb") as handle:
        for chunk in manifest_chunks(manifest, alerts):
            handle.write(chunk)
    return path


def evidence(root, full=True, signature=True, **overrides):
    """A flow's evidence as alert_pcap and the other issue 15 parts write it; the manifest's path."""
    directory = os.path.join(str(root), "probe-01")
    files = {"%d.pcap" % FLOW: b"\xd4\xc3\xb2\xa1" + b"packets" * 100}
    if full:
        files.update({"%d.events.json" % FLOW: b'{\n  "Alert": []\n}\n',
                      "%d.files/%s" % (FLOW, EXTRACTED_SHA): EXTRACTED,
                      "%d.annotated.pcapng" % FLOW: b"\x0a\x0d\x0d\x0a annotated"})
    for name, data in files.items():
        write(os.path.join(directory, name), data)

    def entry(name, **extra):
        return dict({"file": name, "sha256": sha(files[name]), "size": len(files[name])}, **extra)

    manifest = {"schema": MANIFEST_SCHEMA, "probe": "probe-01", "flow_id": FLOW, "recorded": RECORDED,
                "pcap": entry("%d.pcap" % FLOW, packets=14), "source": {"scs_url": "https://scs.example"}}
    if full:
        manifest.update(
            flow_events=entry("%d.events.json" % FLOW, events=1, truncated=False),
            files=[entry("%d.files/%s" % (FLOW, EXTRACTED_SHA), filename="a.exe", outcome="fetched"),
                   {"sha256": "b" * 64, "outcome": "too_large", "message": "larger than max_file_size"}],
            annotated=entry("%d.annotated.pcapng" % FLOW, comments=1))
    manifest.update(overrides)
    alerts = [{"_id": "a%d" % index, "alert": {"signature": "ET TEST sig %d" % (index % 3)}} for index in range(5)]
    path = write_manifest(directory, manifest, alerts)
    if signature:
        write(path + ".sig", b"-----BEGIN SSH SIGNATURE-----\n")
    return path


def bundle_bytes(manifest, dest):
    write_bundle(Evidence(manifest), str(dest), 0o640)
    return dest.read_bytes()


def test_the_bundle_holds_every_listed_file_in_a_fixed_order_with_fixed_metadata(tmp_path):
    manifest = evidence(tmp_path / "ev")
    data = bundle_bytes(manifest, tmp_path / "b.tar.gz")
    assert data[:4] == b"\x1f\x8b\x08\x00" and data[4:8] == b"\x00\x00\x00\x00"  # no FNAME flag, gzip mtime 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        infos = tar.getmembers()
        names = [info.name for info in infos]
        assert names == ["probe-01", "probe-01/%d.json" % FLOW, "probe-01/%d.json.sig" % FLOW,
                         "probe-01/%d.annotated.pcapng" % FLOW, "probe-01/%d.events.json" % FLOW,
                         "probe-01/%d.files" % FLOW, "probe-01/%d.files/%s" % (FLOW, EXTRACTED_SHA),
                         "probe-01/%d.pcap" % FLOW]
        recorded = calendar.timegm((2026, 5, 2, 10, 0, 3))
        for info in infos:
            assert (info.uid, info.gid, info.uname, info.gname, info.mtime) == (0, 0, "", "", recorded)
            assert info.mode == (0o755 if info.isdir() else 0o644)
            if info.isfile():
                on_disk = os.path.join(str(tmp_path / "ev"), info.name)
                assert tar.extractfile(info).read() == open(on_disk, "rb").read()


def test_the_same_evidence_gives_the_same_bytes_whatever_its_file_times_and_permissions(tmp_path, monkeypatch):
    first = bundle_bytes(evidence(tmp_path / "one"), tmp_path / "one.tar.gz")
    old = os.umask(0o077)
    try:
        other = evidence(tmp_path / "two")
    finally:
        os.umask(old)
    for directory, _dirs, names in os.walk(str(tmp_path / "two")):
        for name in names:
            os.utime(os.path.join(directory, name), (1e9, 1e9))
    monkeypatch.setattr("time.time", lambda: 4e9)  # a later bundling
    assert os.stat(other).st_mode & 0o777 == 0o600
    assert bundle_bytes(other, tmp_path / "two.tar.gz") == first
    assert bundle_digest(Evidence(other))[0] == sha(first)


def test_a_manifest_without_a_recorded_time_gives_mtime_zero(tmp_path):
    manifest = evidence(tmp_path / "ev", full=False, signature=False, recorded="yesterday")
    with tarfile.open(fileobj=io.BytesIO(bundle_bytes(manifest, tmp_path / "b.tar.gz"))) as tar:
        assert {info.mtime for info in tar.getmembers()} == {0}
        assert tar.getnames() == ["probe-01", "probe-01/%d.json" % FLOW, "probe-01/%d.pcap" % FLOW]


@pytest.mark.parametrize("damage", ["changed", "missing", "longer", "symlink"])
def test_a_missing_or_changed_file_is_refused_by_name_and_nothing_is_written(tmp_path, damage):
    manifest = evidence(tmp_path / "ev")
    target = os.path.join(str(tmp_path / "ev" / "probe-01"), "%d.files" % FLOW, EXTRACTED_SHA)
    if damage == "changed":
        write(target, EXTRACTED.replace(b"MZ", b"ZM"))  # same size: only the sha256 tells
    elif damage == "missing":
        os.unlink(target)
    elif damage == "longer":
        write(target, EXTRACTED + b"!")
    else:
        outside = tmp_path / "outside"
        outside.write_bytes(EXTRACTED)
        os.unlink(target)
        os.symlink(str(outside), target)
    dest = tmp_path / "out" / "b.tar.gz"
    dest.parent.mkdir()
    with pytest.raises(ScsEvidenceError) as info:
        write_bundle(Evidence(manifest), str(dest), 0o640)
    message = str(info.value)
    assert target in message and "nothing was written" in message
    assert {"changed": "sha256", "missing": "missing", "longer": "changed", "symlink": "symbolic link"}[damage] in message
    assert os.listdir(str(dest.parent)) == []


def test_a_file_changed_while_it_is_bundled_leaves_nothing(tmp_path):
    manifest = evidence(tmp_path / "ev", full=False, signature=False)
    checked = Evidence(manifest)  # sizes and names checked; the pcap then changes before it is read
    write(os.path.join(str(tmp_path / "ev" / "probe-01"), "%d.pcap" % FLOW), b"\xd4\xc3\xb2\xa1" + b"PACKETS" * 100)
    dest = tmp_path / "b.tar.gz"
    dest.write_bytes(b"the previous bundle")
    with pytest.raises(ScsEvidenceError, match="does not match the manifest"):
        write_bundle(checked, str(dest), 0o640)
    assert sorted(os.listdir(str(tmp_path))) == ["b.tar.gz", "ev"] and dest.read_bytes() == b"the previous bundle"


@pytest.mark.parametrize("hostile", [
    "../../../etc/passwd", "/etc/passwd", "%d.pcap/../../x" % FLOW, "%d.files/../%d.pcap" % (FLOW, FLOW),
    "%d.files/%s" % (FLOW, "A" * 64), "1.pcap", "%d.pcap\n" % FLOW, "./%d.pcap" % FLOW, "%d.json" % FLOW,
    "%d.pcap.sig" % FLOW, ["%d.pcap" % FLOW], None])
def test_a_path_outside_the_layout_is_refused_before_anything_is_read(tmp_path, hostile):
    manifest = evidence(tmp_path / "ev", full=False, signature=False,
                        flow_events={"file": hostile, "sha256": "0" * 64, "size": 1})
    with pytest.raises(ScsEvidenceError) as info:
        Evidence(manifest)
    assert "not one of the evidence layout's names" in str(info.value) and "flow_events" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_listed_file_without_a_valid_sha256_is_refused(tmp_path):
    manifest = evidence(tmp_path / "ev", full=False, signature=False,
                        files=[{"file": "%d.files/%s" % (FLOW, EXTRACTED_SHA), "sha256": "ABC", "outcome": "fetched"}])
    with pytest.raises(ScsEvidenceError, match=r"files\[0\]\) without a valid sha256"):
        Evidence(manifest)


@pytest.mark.parametrize("change, message", [
    ({"schema": "something/else"}, "is not a custody manifest"),
    ({"probe": "../etc"}, "names no usable probe"),
    ({"flow_id": True}, "names no valid flow_id"),
    ({"flow_id": FLOW + 1}, "is not named %d.json" % (FLOW + 1)),
])
def test_what_is_not_a_manifest_of_this_layout_is_refused(tmp_path, change, message):
    directory = tmp_path / "ev" / "probe-01"
    directory.mkdir(parents=True)
    manifest = {"schema": MANIFEST_SCHEMA, "probe": "probe-01", "flow_id": FLOW}
    manifest.update(change)
    path = write_manifest(str(directory), dict(manifest, flow_id=FLOW))
    if "flow_id" in change:  # written under the flow's name, naming another flow (or none)
        with open(path, "wb") as handle:
            handle.write(b"".join(manifest_chunks(manifest, [])))
    with pytest.raises(ScsEvidenceError, match=message):
        Evidence(path)


def test_caps_on_the_manifest_and_its_signature(tmp_path, monkeypatch):
    manifest = evidence(tmp_path / "ev", full=False)
    monkeypatch.setattr(_bundle, "SIGNATURE_MAX_BYTES", 8)
    with pytest.raises(ScsEvidenceError, match="larger than 8 bytes"):
        Evidence(manifest)
    monkeypatch.setattr(_bundle, "MANIFEST_MAX_BYTES", 100)
    with pytest.raises(ScsEvidenceError, match="larger than 0 MiB; refusing"):
        Evidence(manifest)
    os.unlink(manifest)
    with pytest.raises(ScsEvidenceError, match="does not exist"):
        Evidence(manifest)


def test_signatures_are_distinct_printable_and_capped(tmp_path):
    manifest = evidence(tmp_path / "ev", full=False, signature=False)
    found = Evidence(manifest)
    assert (found.alerts, found.signatures) == (5, ["ET TEST sig 0", "ET TEST sig 1", "ET TEST sig 2"])
    alerts = [{"_id": str(index), "alert": {"signature": "\x1b]0;x\x07 sig %d" % index}} for index in range(80)]
    pcap = {"file": "%d.pcap" % FLOW, "sha256": found.files[1].sha256}
    path = write_manifest(os.path.dirname(manifest), {"schema": MANIFEST_SCHEMA, "probe": "probe-01", "flow_id": FLOW,
                                                      "pcap": pcap}, alerts)
    many = Evidence(path)
    assert many.alerts == 80 and len(many.signatures) == 50 and many.signatures[0] == "\\x1b]0;x\\x07 sig 0"


def test_memory_stays_flat_for_a_large_pcap(tmp_path):
    directory = tmp_path / "ev" / "probe-01"
    directory.mkdir(parents=True)
    pcap = directory / ("%d.pcap" % FLOW)
    digest = hashlib.sha256()
    with open(str(pcap), "wb") as handle:
        block = os.urandom(1 << 20)  # incompressible, so the gzip stream is as large as the pcap
        for _block in range(64):
            handle.write(block)
            digest.update(block)
    manifest = write_manifest(str(directory), {"schema": MANIFEST_SCHEMA, "probe": "probe-01", "flow_id": FLOW,
                                               "pcap": {"file": pcap.name, "sha256": digest.hexdigest(),
                                                        "size": 64 << 20}})
    tracemalloc.start()
    try:
        changed, _sha, size, _members = write_bundle(Evidence(manifest), str(tmp_path / "b.tar.gz"), 0o640)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert changed and size > 64 << 20
    assert peak < 4 << 20, "peak %d bytes" % peak
    with gzip.open(str(tmp_path / "b.tar.gz")) as handle:
        assert sum(len(chunk) for chunk in iter(lambda: handle.read(1 << 20), b"")) > 64 << 20


def test_an_unchanged_bundle_is_not_rewritten(tmp_path):
    manifest = evidence(tmp_path / "ev")
    dest = tmp_path / "b.tar.gz"
    first = write_bundle(Evidence(manifest), str(dest), 0o640)
    inode = os.stat(str(dest)).st_ino
    again = write_bundle(Evidence(manifest), str(dest), 0o640)
    assert first[0] is True and again[0] is False and first[1:] == again[1:]
    assert os.stat(str(dest)).st_ino == inode and sorted(os.listdir(str(tmp_path))) == ["b.tar.gz", "ev"]
