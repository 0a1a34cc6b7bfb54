"""Scale: alert_pcap over 10,000 alerts in one task, and a 2 GiB pcap through pcap_download, each run as its own process
so that its peak resident memory can be measured."""

import collections
import hashlib
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # inputkit, under --import-mode=importlib

from inputkit import files_under, run_module_direct  # noqa: E402
from runner import TOKEN_MARKER, Emulator  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Scale"
MIB = 1024 * 1024
GIB = 1024 * MIB
ALERTS_RSS_LIMIT_MIB = 300
DOWNLOAD_RSS_LIMIT_MIB = 100
# A streamed download holds one chunk at a time: 2 GiB may not cost more than this over 100 MiB.
DOWNLOAD_RSS_GROWTH_MIB = 16


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=71, probes=3, templates=1, alerts=40, flows=30, pcap="all",
                  extra_args=("--pcap-total-size", "100000000"), token=TOKEN_MARKER) as emulator:
        yield emulator


def connection(emulator):
    return {"scs_url": emulator.url, "scs_token": emulator.token, "ca_path": emulator.ca_path}


def real_alerts(emulator, count):
    """``count`` alerts with a capture file, each alone on its flow."""
    alerts = [alert for alert in emulator.alerts() if alert.get("capture_file")]
    per_flow = collections.Counter((alert["host"], alert["flow_id"]) for alert in alerts)
    chosen = [alert for alert in alerts if per_flow[(alert["host"], alert["flow_id"])] == 1][:count]
    assert len(chosen) == count
    return chosen


def synthetic_alerts(template, count):
    """Full-size EVE alerts without capture_file (conditional pcap was off): outcome no_capture, no API call."""
    base = {key: value for key, value in template.items() if key != "capture_file"}
    return [dict(base, _id="synthNoCapture%05d" % index, flow_id=1900000000000000 + index, host="probe-0%d" % (1 + index % 3))
            for index in range(count)]


def test_ten_thousand_alerts_in_one_task(emu, tmp_path, ledger):
    real = real_alerts(emu, 10)
    alerts = synthetic_alerts(real[0], 9990) + real
    dest = tmp_path / "evidence"
    emu.clear_requests()
    result, rss, seconds = run_module_direct("alert_pcap", dict(connection(emu), alerts=alerts, dest=str(dest), workers=4,
                                                                results="all"), tmp_path)
    assert result["_rc"] == 0 and not result.get("failed"), (result.get("msg"), result["_stderr"][-2000:])
    summary = result["summary"]
    assert summary == {"alerts": 10000, "flows": 10000, "fetch": 0, "fetched": 10, "present": 0, "no_packets": 0, "flow_absent": 0,
                       "rotated": 0, "no_capture": 9990, "failed": 0, "flow_events": {"fetched": 10, "failed": 0},
                       "files": {"fetched": 0, "too_large": 0, "not_on_probe": 0, "failed": 0}}, summary
    fetched = {entry["alert_id"] for entry in result["results"] if entry["outcome"] == "fetched"}
    assert fetched == {alert["_id"] for alert in real} and len(result["results"]) == 10000
    calls = collections.Counter(entry["path"].rstrip("/").rsplit("/", 1)[-1] for entry in emu.requests()
                                if "/filestore_pcap/" in entry["path"])
    assert calls == {"upload": 10, "extract_pcap": 10, "retrieve": 10, "download": 10}, calls
    assert len(files_under(dest)) == 30 and not [name for name in files_under(dest) if not name.endswith((".pcap", ".json"))]
    assert rss < ALERTS_RSS_LIMIT_MIB, "peak RSS %.0f MiB" % rss
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "alert_pcap with 10,000 alerts in one task (9,990 without capture file, 10 real)", "alert_pcap",
                  "survived", "summary exact (10 fetched, 9,990 no_capture, 0 failed), 40 pcap calls only; peak RSS "
                  "%.0f MiB (limit %d), %.1f s" % (rss, ALERTS_RSS_LIMIT_MIB, seconds))


def independent_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(8 * MIB)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)


def download(emu, tmp_path, name, size):
    emu.stage_pcap(name, size)
    dest = tmp_path / name
    dest.mkdir()
    result, rss, seconds = run_module_direct("pcap_download", dict(connection(emu), filename=name, dest=str(dest)), tmp_path)
    path = dest / ("%s.pcap" % name)
    try:
        assert result["_rc"] == 0 and not result.get("failed"), (result.get("msg"), result["_stderr"][-2000:])
        assert files_under(dest) == ["%s.pcap" % name], files_under(dest)  # no temporary file left beside it
        assert path.stat().st_size == size and result["size"] == size
        assert result["sha256"] == independent_sha256(path)
        assert result["pcap"]["format"] == "pcap" and result["pcap"]["packets"] > 0
    finally:
        if path.exists():
            path.unlink()
    return result, rss, seconds


def test_two_gib_pcap_streams_in_bounded_memory(emu, tmp_path, ledger):
    small, small_rss, small_seconds = download(emu, tmp_path, "bigPcap100m", 100 * MIB)
    big, big_rss, big_seconds = download(emu, tmp_path, "bigPcap2g", 2 * GIB)
    assert big["size"] == 2 * GIB and small["size"] == 100 * MIB
    assert big_rss < DOWNLOAD_RSS_LIMIT_MIB, "peak RSS %.0f MiB for 2 GiB" % big_rss
    assert big_rss - small_rss < DOWNLOAD_RSS_GROWTH_MIB, "peak RSS %.0f MiB for 2 GiB, %.0f MiB for 100 MiB" % (
        big_rss, small_rss)
    assert files_under(tmp_path / "bigPcap2g") == [] and files_under(tmp_path / "bigPcap100m") == []
    ledger.checked("no partial file", 2)
    ledger.record(CATEGORY, "2 GiB pcap through pcap_download", "pcap_download", "survived",
                  "size exact, sha256 equal to an independent hash, no temporary file left; peak RSS %.0f MiB "
                  "(%.0f MiB for 100 MiB; limit %d), %.1f s (%.0f MiB/s)" % (
                      big_rss, small_rss, DOWNLOAD_RSS_LIMIT_MIB, big_seconds, 2048 / big_seconds))
    ledger.record(CATEGORY, "100 MiB pcap through pcap_download (reference)", "pcap_download", "survived",
                  "size exact, sha256 equal to an independent hash; peak RSS %.0f MiB, %.1f s" % (small_rss, small_seconds))
