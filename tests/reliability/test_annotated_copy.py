"""The annotated pcapng copy (alert_pcap annotated=true) when it cannot be written: a full disk or a destination that
refuses it, on the first fetch and when later alerts are merged. Neither a partial copy nor a manifest naming a copy
that is not there (or differs) is ever left; a rerun once the cause is gone completes the evidence."""

import hashlib
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # faultkit, under --import-mode=importlib

import faultkit as fk  # noqa: E402  pylint: disable=wrong-import-position
from runner import TOKEN_MARKER, Emulator, run_tasks  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.integration

CATEGORY = "Annotated copy"
PAGE = 4096


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=152, probes=1, templates=1, alerts=10, flows=6, pcap="all", extra_args=fk.NO_ROTATION,
                  token=TOKEN_MARKER) as emulator:
        yield emulator


def fetch(tmp_path, emu, alerts, dest):
    run = run_tasks(tmp_path, emu.env(), [{"name": "Fetch", "register": "pull", "stamus.scs.alert_pcap": {
        "alerts": alerts, "dest": str(dest), "annotated": True}}])
    assert not fk.crash_signs(run.stdout, run.stderr) and not fk.leaks(run.stdout, run.stderr, run["pull"])
    return run["pull"]


def problems(dest):
    """What is wrong in an evidence directory with annotated copies: temporary files, a pcap without its manifest, a
    manifest whose pcap or annotated copy is missing or differs from its sha256."""
    found = []
    for name in fk.files_under(dest):
        path = os.path.join(str(dest), name)
        if os.path.basename(name).startswith(".") or name.endswith(".part"):
            found.append("temporary file %s" % name)
        elif name.endswith((".pcap", ".annotated.pcapng", ".events.json")) \
                and not os.path.exists(path[:path.index(".", len(os.path.dirname(path)))] + ".json"):
            found.append("%s without its manifest" % name)
        elif name.endswith(".json"):
            with open(path, encoding="utf-8") as handle:
                manifest = json.load(handle)
            for member in ("pcap", "annotated"):
                if member not in manifest:
                    continue
                target = os.path.join(os.path.dirname(path), manifest[member]["file"])
                if not os.path.isfile(target):
                    found.append("%s names a missing %s" % (name, member))
                elif fk.sha256_of(target) != manifest[member]["sha256"]:
                    found.append("%s: sha256 mismatch of its %s" % (name, member))
    return found


def fill(disk, keep):
    """Fill the tmpfs at ``disk`` but ``keep`` bytes (whole pages)."""
    info = os.statvfs(str(disk))
    free = info.f_bavail * info.f_frsize
    with open(os.path.join(str(disk), "filler"), "wb") as handle:
        handle.write(b"\0" * max(0, free - keep))
    return os.path.join(str(disk), "filler")


def test_a_destination_that_refuses_the_copy_keeps_nothing_then_a_rerun_completes(tmp_path, emu, ledger):
    alert = emu.add_alerts(probe="probe-01", count=1)[0]
    dest = tmp_path / "evidence"
    squatter = dest / "probe-01" / ("%d.annotated.pcapng" % alert["flow_id"])
    squatter.mkdir(parents=True)  # the copy's name is taken by a directory: the final rename is refused
    refused = fetch(tmp_path, emu, [alert], dest)
    entry = refused["results"][0]
    assert refused.get("failed") and entry["outcome"] == "failed" and entry["pcap"] is None, refused
    assert "annotated.pcapng" in entry["message"] and "nothing partial was kept" in entry["message"], entry["message"]
    assert fk.files_under(dest) == [] and squatter.is_dir() and problems(dest) == []
    ledger.record(CATEGORY, "the copy's name is taken (a directory) when it is renamed into place", "alert_pcap annotated",
                  "clear error", "no pcap, no manifest, no temporary file kept: %s" % entry["message"][:160])
    ledger.checked("no partial file")

    squatter.rmdir()
    done = fetch(tmp_path, emu, [alert], dest)
    assert done["summary"]["fetched"] == 1 and problems(dest) == []
    manifest = json.loads((dest / "probe-01" / ("%d.json" % alert["flow_id"])).read_text())
    assert manifest["annotated"]["comments"] == 1
    ledger.record(CATEGORY, "rerun once the copy's name is free", "alert_pcap annotated", "survived",
                  "pcap, copy (1 comment) and manifest written, every sha256 matches")


def test_disk_full_while_writing_the_copy_then_while_rewriting_it(tmp_path, emu, ledger):
    alerts = emu.add_alerts(probe="probe-01", count=2, kind="same_flow")
    size = len(emu.expected_pcap(alerts[0]["_id"]))
    with fk.tiny_disk(tmp_path / "disk") as disk:
        dest = disk / "evidence"
        filler = fill(disk, -(-size // PAGE) * PAGE)  # room for the pcap, none for the copy nor the manifest
        full = fetch(tmp_path, emu, alerts[:1], dest)
        entry = full["results"][0]
        assert full.get("failed") and entry["outcome"] == "failed", full
        assert "No space left on device" in entry["message"] and "annotated.pcapng" in entry["message"], entry["message"]
        assert fk.files_under(dest) == [] and problems(dest) == []
        ledger.record(CATEGORY, "disk full while the copy is written (tmpfs)", "alert_pcap annotated", "clear error",
                      "no pcap, copy nor manifest kept: %s" % fk.excerpt(entry["message"], "No space", 120))
        ledger.checked("no partial file")

        os.unlink(filler)
        first = fetch(tmp_path, emu, alerts[:1], dest)
        assert first["summary"]["fetched"] == 1 and problems(dest) == []
        manifest_path = dest / "probe-01" / ("%d.json" % alerts[0]["flow_id"])
        before = manifest_path.read_bytes()
        filler = fill(disk, 0)
        merged = fetch(tmp_path, emu, alerts, dest)
        assert merged.get("failed") and {entry["outcome"] for entry in merged["results"]} == {"failed"}, merged
        message = merged["results"][0]["message"]
        assert "annotated copy" in message and "No space left on device" in message, message
        assert manifest_path.read_bytes() == before and problems(dest) == []
        ledger.record(CATEGORY, "disk full while the copy is rewritten for a later alert (tmpfs)", "alert_pcap annotated",
                      "clear error", "the previous copy and manifest kept, consistent: %s" % fk.excerpt(message, "No space", 120))
        ledger.checked("no partial file")

        os.unlink(filler)
        again = fetch(tmp_path, emu, alerts, dest)
        assert again["changed"] and again["summary"]["present"] == 2 and problems(dest) == []
        manifest = json.loads(manifest_path.read_text())
        assert len(manifest["alerts"]) == 2 and manifest["annotated"]["comments"] == 2
        assert manifest["pcap"]["sha256"] == hashlib.sha256(emu.expected_pcap(alerts[0]["_id"])).hexdigest()
        ledger.record(CATEGORY, "rerun once space is freed", "alert_pcap annotated", "survived",
                      "the later alert merged into the manifest and the rewritten copy (2 comments)")


def test_disk_full_when_the_manifest_is_written_after_the_copy_keeps_nothing(tmp_path, emu, ledger):
    alert = emu.add_alerts(probe="probe-01", count=1)[0]
    sized = tmp_path / "sized"
    assert fetch(tmp_path, emu, [alert], sized)["summary"]["fetched"] == 1
    written = sized / "probe-01"
    manifest = "%d.json" % alert["flow_id"]
    pages = sum(-(-os.path.getsize(written / name) // PAGE) for name in os.listdir(written) if name != manifest)
    with fk.tiny_disk(tmp_path / "disk") as disk:
        dest = disk / "evidence"
        fill(disk, pages * PAGE)  # room for the pcap, its events and the copy, none for the manifest
        full = fetch(tmp_path, emu, [alert], dest)
        entry = full["results"][0]
        assert full.get("failed") and entry["outcome"] == "failed", full
        assert "No space left on device" in entry["message"] and manifest in entry["message"], entry["message"]
        assert fk.files_under(dest) == [] and problems(dest) == []
    ledger.record(CATEGORY, "disk full when the manifest is written, after the pcap, events and copy (tmpfs)",
                  "alert_pcap annotated", "clear error",
                  "no pcap, events, copy nor manifest kept: %s" % fk.excerpt(entry["message"], "No space", 120))
    ledger.checked("no partial file")
