"""Disruptions around a running alert_pcap batch: SCS killed and restarted, two runs on one evidence directory, a full
disk. Each uses its own emulator (every probe captures, nothing rotates) and real ansible-playbook runs at -vvv."""

import json
import os
import re
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultkit as fk  # noqa: E402  pylint: disable=wrong-import-position
from faultkit import NO_ROTATION, TOKEN_MARKER, Emulator, tiny_disk  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.integration

TRANSPORT_CAUSE = r"connection|reset|refused|no answer|broke off|HTTP 50[234]"
# Refused before writing when the announced size cannot fit, or stopped by the filesystem when parallel writers race.
NO_SPACE = r"No space left on device|has only [^;]* free; nothing was written"


def batch_task(dest, name="pull", **extra):
    return {"name": name, "register": name, "stamus.scs.alert_pcap": dict({"since": "30d", "dest": str(dest), "workers": 4}, **extra)}


def assert_safe(run, *roots, manifests=True):
    """No crash, no token anywhere, nothing partial: the checks every disruption must pass."""
    assert not fk.crash_signs(run.stdout, run.stderr), (fk.crash_signs(run.stdout, run.stderr), run.stdout[-3000:], run.stderr[-3000:])
    assert not fk.leaks(run.stdout, run.stderr, run.results or {}, roots=roots)
    for root in roots:
        assert fk.evidence_problems(root, manifests=manifests) == [], fk.evidence_problems(root, manifests=manifests)


def record_checks(ledger):
    ledger.checked("no traceback")
    ledger.checked("no token leak")
    ledger.checked("no partial file")


def flows_on_disk(dest):
    return {name[:-len(".pcap")] for name in fk.files_under(dest) if name.endswith(".pcap")}


def expected_flows(emulator):
    return {"%s/%d" % (alert["host"], alert["flow_id"]) for alert in emulator.alerts() if alert.get("capture_file")}


def assert_bytes_right(emulator, dest):
    """Every pcap on disk is byte for byte what the probe extracts for its flow."""
    by_flow = {}
    for alert in emulator.alerts():
        by_flow.setdefault("%s/%d" % (alert["host"], alert["flow_id"]), alert["_id"])
    for flow in flows_on_disk(dest):
        with open(os.path.join(str(dest), flow + ".json"), encoding="utf-8") as handle:
            manifest = json.load(handle)
        with open(os.path.join(str(dest), flow + ".pcap"), "rb") as handle:
            data = handle.read()
        assert data == emulator.expected_pcap(manifest["extracted_with_alert"]), flow


def test_scs_killed_and_restarted_mid_batch_then_rerun_fetches_only_the_missing(tmp_path, ledger):
    with Emulator(tls=True, seed=71, probes=3, templates=1, alerts=200, flows=120, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emu:
        wanted = expected_flows(emu)
        assert len(wanted) == 120
        # slow the downloads a little so the kill lands mid-batch (faults live in memory: the restart drops it)
        emu.inject_fault(method="GET", path="/download/$", kind="delay", delay=0.15, count=-1)
        dest = tmp_path / "evidence"
        run = fk.Playbook(tmp_path / "interrupted", emu.env(), [batch_task(dest)])
        deadline = time.monotonic() + 120
        while len(flows_on_disk(dest)) < 15 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.poll() is None, "the batch ended before the kill"
        port = emu.port
        emu.kill()
        killed_with = len(flows_on_disk(dest))
        time.sleep(4)  # longer than the client's GET retries
        emu.start()
        assert emu.port == port, "restarted on another port"
        run.wait(300)
        first = run["pull"]
        assert_safe(run, dest)
        summary = first["summary"]
        assert summary["fetched"] + summary["failed"] == 200, summary
        on_disk = flows_on_disk(dest)
        fetched_flows = {"%s/%d" % (entry["probe"], entry["flow_id"]) for entry in first["results"] if entry["outcome"] == "fetched"}
        assert on_disk == fetched_flows and killed_with <= len(on_disk)
        scenario = "SCS killed (SIGKILL) mid-batch, restarted 4 s later"
        if summary["failed"]:
            # the chains that hit the outage fail clearly; nothing partial is kept
            failed = [entry for entry in first["results"] if entry["outcome"] == "failed"]
            unclear = [entry["message"] for entry in failed if not re.search(TRANSPORT_CAUSE, entry["message"] or "", re.IGNORECASE)]
            assert not unclear, "failures that do not name the cause: %s" % unclear[:3]
            assert re.search(TRANSPORT_CAUSE, first["msg"], re.IGNORECASE) and "fail_on=none" in first["msg"], first["msg"]
            ledger.record("Disruptions", scenario, "alert_pcap, 200 alerts over 120 flows", "clear error",
                          "%d of 120 flows fetched, %d alerts failed: %s" % (
                              len(on_disk), summary["failed"], fk.excerpt(failed[0]["message"], TRANSPORT_CAUSE, 110)))
        else:
            # retries with backoff (and re-sending POSTs whose connection was refused) outlasted the outage
            assert not first.get("failed") and len(on_disk) == 120, summary
            ledger.record("Disruptions", scenario, "alert_pcap, 200 alerts over 120 flows", "survived",
                          "all 120 flows fetched: retries outlasted the restart")
        record_checks(ledger)

        missing = wanted - on_disk
        emu.clear_requests()
        rerun = fk.run_playbook(tmp_path / "rerun", emu.env(), [batch_task(dest)])
        second = rerun["pull"]
        assert_safe(rerun, dest)
        assert not second.get("failed") and second["summary"]["failed"] == 0, second.get("msg")
        assert second["summary"]["fetched"] + second["summary"]["present"] == 200, second["summary"]
        downloads = [entry for entry in emu.requests() if entry["path"].endswith("/download/")]
        assert len(downloads) == len(missing), "%d downloads for %d missing flows" % (len(downloads), len(missing))
        refetched = {"%s/%d" % (entry["probe"], entry["flow_id"]) for entry in second["results"] if entry["outcome"] == "fetched"}
        assert refetched == missing
        assert flows_on_disk(dest) == wanted and len(fk.files_under(dest)) == 360  # pcap, manifest, events
        assert_bytes_right(emu, dest)
        ledger.record("Disruptions", "rerun after SCS was killed and restarted", "alert_pcap, 200 alerts over 120 flows",
                      "survived", "every flow present; %d downloads for the %d missing flows, none for the others" % (
                          len(downloads), len(missing)))
        record_checks(ledger)


def test_two_runs_on_one_evidence_directory_at_once(tmp_path, ledger):
    with Emulator(tls=True, seed=72, probes=3, templates=1, alerts=200, flows=120, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emu:
        wanted = expected_flows(emu)
        dest = tmp_path / "evidence"
        runs = [fk.Playbook(tmp_path / ("run%d" % index), emu.env(), [batch_task(dest)]) for index in (1, 2)]
        for run in runs:
            run.wait(300)
        for run in runs:
            assert_safe(run, dest)
        names = fk.files_under(dest)
        assert flows_on_disk(dest) == wanted and len(names) == 3 * len(wanted), "duplicates or strays: %s" % [
            name for name in names if not re.match(r"^[^/]+/\d+\.(pcap|json|events\.json)$", name)]
        assert_bytes_right(emu, dest)
        results = [run["pull"] for run in runs]
        outcomes = [{outcome: count for outcome, count in result["summary"].items() if count and outcome not in ("alerts", "flows", "flow_events", "files")}
                    for result in results]
        for result in results:
            assert result["summary"]["alerts"] == 200
            assert not result.get("failed") and result["summary"]["failed"] == 0, \
                "a concurrent run failed: %s (outcomes %s)" % (result.get("msg"), outcomes)
        ledger.record("Disruptions", "two alert_pcap runs on one evidence directory at once", "alert_pcap, 200 alerts x 2",
                      "survived", "both finished (%s / %s); every pcap has its manifest, sha256 matches, no strays" % (
                          ", ".join("%s %d" % item for item in sorted(outcomes[0].items())),
                          ", ".join("%s %d" % item for item in sorted(outcomes[1].items()))))
        record_checks(ledger)


def test_disk_full_at_the_destination(tmp_path, ledger):
    with Emulator(tls=True, seed=73, probes=3, templates=1, alerts=400, flows=400, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emu:
        big = fk.lone_alerts(emu)[:3]
        with tiny_disk(tmp_path / "full") as disk:
            dest = disk / "evidence"
            singles = disk / "singles"
            tasks = [batch_task(dest, workers=8)]
            tasks += [{"name": "Mkdir", "ansible.builtin.file": {"path": str(singles), "state": "directory", "mode": "0750"}}]
            tasks += [{"name": "download %d" % index, "register": "download%d" % index,
                       "stamus.scs.pcap_download": {"filename": alert["_id"], "dest": str(singles)}}
                      for index, alert in enumerate(big)]
            # the batch fills the disk first; then the disk is emptied for three big single downloads
            run = fk.run_playbook(tmp_path / "batch", emu.env(), tasks[:1])
            assert_safe(run, dest)
            pull = run["pull"]
            failed = [entry for entry in pull["results"] if entry["outcome"] == "failed"]
            assert pull.get("failed") and failed, "1 MiB held every flow?: %s" % pull["summary"]
            unclear = [entry["message"] for entry in failed if not re.search(NO_SPACE, entry["message"] or "")]
            assert not unclear, "failures that do not say the disk is full: %s" % unclear[:3]
            kept = [entry for entry in pull["results"] if entry["outcome"] == "fetched"]
            assert all(entry["pcap"] and os.path.exists(entry["pcap"]) and os.path.exists(entry["manifest"]) for entry in kept)
            ledger.record("Disruptions", "disk full at the destination (1 MiB tmpfs)", "alert_pcap, 400 flows", "clear error",
                          "%d fetched, %d failed: %s" % (len(kept), len(failed), fk.excerpt(failed[0]["message"], NO_SPACE, 120)))
            record_checks(ledger)

            subprocess.run(["rm", "-rf", str(dest)], check=True)
            for alert in big:  # 3 x 400 KB pcaps on SCS, ready to download: the third cannot fit in 1 MiB
                emu.stage_pcap(alert["_id"], 400 * 1024, probe=alert["host"])
            run = fk.run_playbook(tmp_path / "singles", emu.env(), tasks[1:])
            assert_safe(run, singles, manifests=False)
            results = [run["download%d" % index] for index in range(len(big))]
            assert not results[0].get("failed") and not results[1].get("failed"), results[:2]
            assert results[2].get("failed") and re.search(NO_SPACE, results[2]["msg"]), results[2]
            assert sorted(fk.files_under(singles)) == sorted("%s.pcap" % alert["_id"] for alert in big[:2])
            ledger.record("Disruptions", "disk full at the destination (1 MiB tmpfs)", "pcap_download, 3 x 400 KB",
                          "clear error", "2 downloaded, the third: %s" % fk.excerpt(results[2]["msg"], NO_SPACE, 120))
            record_checks(ledger)
