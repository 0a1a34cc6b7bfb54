"""Bounded inputs: what SCS (or whatever answers in its place) sends is capped in size, encoding and time.

- downloads ask for the file as is and refuse an encoded one, respect max_size (announced or while streaming) and the
  free space, and end at download_timeout; none of these refusals is retried by alert_pcap's chain re-run;
- a JSON answer is decoded within a cap, so a gzip bomb costs little memory (peak RSS measured);
- every API call ends within its deadline even when the server dribbles its answer;
- a run killed in the middle of a download leaves a temporary file that the next run on the same dest removes.

Scenarios run through real ansible-playbook runs (several cases in one run, each marked in the emulator's request
log), or as the module's own process where memory or time is measured or the process is killed.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # inputkit, under --import-mode=importlib

from faultkit import NO_ROTATION, evidence_problems, excerpt, lone_alerts  # noqa: E402
from inputkit import CaseBatch, files_under, has_traceback, result_has_traceback, run_module_direct  # noqa: E402
from runner import COLLECTIONS, MODULE_LAUNCHER, TOKEN_MARKER, Emulator, run_tasks  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Bounded inputs"
MIB = 1024 * 1024
PIB = 1 << 50
BOMB = 512 * MIB
BOMB_RSS_LIMIT_MIB = 250   # the cap is 64 MiB decoded; decoding the whole bomb took over 1 GiB
TIMEOUT = 2                # the timeout option of the deadline scenarios
DOWNLOAD_TIMEOUT = 3


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=91, probes=3, templates=1, alerts=40, flows=30, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emulator:
        yield emulator


def connection(emulator, **extra):
    return dict({"scs_url": emulator.url, "scs_token": emulator.token, "ca_path": emulator.ca_path}, **extra)


def downloads_of(entries, name):
    return [entry for entry in entries if entry["path"].endswith("/%s/download/" % name)]


def uploads_of(entries, alert):
    return [entry for entry in entries if entry["path"].endswith("/upload/") and alert["host"] in entry["query"]]


# ------------------------------------------------------------------------------------------------ one playbook run

# key: (module, staged pcap size or None, fault on the download path or None, module args, words of the message)
DOWNLOAD_CASES = {
    "dl_gzip": ("pcap_download", 4 * MIB, {"kind": "gzip"}, {},
                ["Content-Encoding gzip", "identity", "nothing was written"]),
    "dl_over_max": ("pcap_download", 3 * MIB, None, {"max_size": "1M"},
                    ["3 MiB (3145728 bytes), more than max_size (1 MiB (1048576 bytes))", "Raise max_size"]),
    "dl_grows": ("pcap_download", 3 * MIB, {"kind": "no_length"}, {"max_size": "1M"},
                 ["grew past max_size (1 MiB (1048576 bytes))", "nothing was kept"]),
    "dl_no_room": ("pcap_download", None, {"kind": "status", "status": 200, "content_length": PIB, "body": "x"},
                   {"max_size": "2P"}, ["(1125899906842624 bytes) but", "free", "Free space there or choose another dest"]),
    "dl_slow": ("pcap_download", 8 * MIB, {"kind": "dribble", "chunk": 65536, "delay": 0.25},
                {"download_timeout": DOWNLOAD_TIMEOUT}, ["longer than download_timeout (3 seconds)", "nothing was kept"]),
    "pcap_gzip": ("alert_pcap", None, {"kind": "gzip"}, {}, ["Content-Encoding gzip", "nothing was written"]),
    "pcap_over_max": ("alert_pcap", None, None, {"max_size": 100}, ["more than max_size (100 bytes)"]),
    "pcap_no_room": ("alert_pcap", None, {"kind": "status", "status": 200, "content_length": PIB, "body": "x"},
                     {"max_size": "2P"}, ["(1125899906842624 bytes) but", "free"]),
    "pcap_slow": ("alert_pcap", None, {"kind": "dribble", "chunk": 256, "delay": 0.25},
                  {"download_timeout": DOWNLOAD_TIMEOUT}, ["longer than download_timeout (3 seconds)"]),
}
SCENARIOS = {
    "dl_gzip": "pcap sent gzip-encoded (chunked, as a compressing proxy does)",
    "dl_over_max": "pcap whose Content-Length is over max_size",
    "dl_grows": "pcap without Content-Length growing past max_size",
    "dl_no_room": "pcap announced larger than the free space of dest (1 PiB)",
    "dl_slow": "pcap dribbled (64 KiB every 0.25 s) past download_timeout",
    "pcap_gzip": "pcap sent gzip-encoded (chunked)",
    "pcap_over_max": "pcap over max_size",
    "pcap_no_room": "pcap announced larger than the free space of dest (1 PiB)",
    "pcap_slow": "pcap dribbled past download_timeout",
}


@pytest.fixture(scope="module")
def batch(emu, tmp_path_factory):
    base = tmp_path_factory.mktemp("bounded")
    alerts = iter(lone_alerts(emu))
    runner = CaseBatch(emu)
    runner.alerts, runner.dests = {}, {}
    emu.clear_faults()
    for key, (module, size, fault, args, _words) in DOWNLOAD_CASES.items():
        dest = base / key
        dest.mkdir()
        runner.dests[key] = dest
        if module == "pcap_download":
            name = "bnd" + key.replace("_", "")
            if size:
                emu.stage_pcap(name, size)
            task_args = dict(args, filename=name, dest=str(dest))
        else:
            alert = next(alerts)
            runner.alerts[key] = alert
            name = alert["_id"]
            task_args = dict(args, alerts=[alert], dest=str(dest), fail_on="none")
        if fault:
            emu.inject_fault(method="GET", path="/%s/download/$" % name, count=-1, **fault)
        runner.add(key, "stamus.scs.%s" % module, task_args)
    try:
        runner.execute(base, verbosity=1)
    finally:
        emu.clear_faults()
    return runner


def case_message(result, module):
    if module == "pcap_download":
        assert result.get("failed") is True, result
        return result["msg"]
    assert not result.get("failed"), result  # fail_on=none: the outcome is per alert
    [entry] = result["results"]
    assert entry["outcome"] == "failed" and entry["pcap"] is None, entry
    return entry["message"]


@pytest.mark.parametrize("key", sorted(DOWNLOAD_CASES))
def test_download_limits(batch, ledger, key):
    module, _size, _fault, _args, words = DOWNLOAD_CASES[key]
    result = batch[key]
    message = case_message(result, module)
    missing = [word for word in words if word not in message]
    assert not missing, "message lacks %s: %s" % (missing, message)
    assert not result_has_traceback(result) and TOKEN_MARKER not in json.dumps(result)
    dest = batch.dests[key]
    assert evidence_problems(dest) == [] and [name for name in files_under(dest) if name.endswith(".pcap")] == []
    sent = batch.requests_of(key)
    if module == "alert_pcap":
        alert = batch.alerts[key]
        # a limit is final: the chain is not run again (one upload, one download)
        assert len(uploads_of(sent, alert)) == 1 and len(downloads_of(sent, alert["_id"])) == 1, [e["path"] for e in sent]
    else:
        assert len(downloads_of(sent, "bnd" + key.replace("_", ""))) == 1
    ledger.checked("no partial file")
    ledger.checked("no traceback")
    ledger.checked("no token leak")
    note = "; not retried, nothing kept" if module == "alert_pcap" else "; nothing kept"
    # the free space of this machine's /tmp is no part of the observation
    message = re.sub(r"has only [^;]* free", "has only <free space> free", message)
    ledger.record(CATEGORY, SCENARIOS[key], module, "clear error", excerpt(message, width=200) + note)


def test_no_traceback_in_the_batch(batch):
    assert not has_traceback(batch.run.stdout, batch.run.stderr), batch.run.stdout[-3000:]
    assert TOKEN_MARKER not in batch.run.stdout + batch.run.stderr


# ------------------------------------------------------------------------------------------------ memory and time

def test_gzip_bomb_answer_costs_little_memory(emu, tmp_path, ledger):
    emu.clear_faults()
    emu.inject_fault(method="GET", path="/alerts_tail/$", kind="gzip_bomb", size=BOMB, count=-1)
    try:
        emu.clear_requests()
        result, rss, seconds = run_module_direct("alert_info", connection(emu, limit=10), tmp_path, timeout=300)
    finally:
        emu.clear_faults()
    assert result.get("failed") is True, {key: value for key, value in result.items() if key != "alerts"}
    message = result["msg"]
    assert "larger than 64 MiB (67108864 bytes) once decoded" in message and "page_size" in message, message
    assert len([entry for entry in emu.requests() if "alerts_tail" in entry["path"]]) == 1  # not retried
    assert rss < BOMB_RSS_LIMIT_MIB, "peak RSS %.0f MiB" % rss
    assert not has_traceback(result) and TOKEN_MARKER not in json.dumps(result)
    ledger.checked("no traceback")
    ledger.record(CATEGORY, "alerts page gzip bomb (about 0.5 MiB decoding to 512 MiB)", "alert_info", "clear error",
                  "%s; not retried; peak RSS %.0f MiB (limit %d), %.1f s" % (excerpt(message, width=150), rss, BOMB_RSS_LIMIT_MIB, seconds))


def test_dribbling_answer_ends_at_the_deadline(emu, tmp_path, ledger):
    emu.clear_faults()
    emu.inject_fault(method="GET", path="/alerts_tail/$", kind="dribble", delay=0.5, count=-1)
    try:
        result, _rss, seconds = run_module_direct("alert_info", connection(emu, limit=5, timeout=TIMEOUT, retries=1),
                                                  tmp_path, timeout=120)
    finally:
        emu.clear_faults()
    assert result.get("failed") is True, result
    assert "still arriving after 2 seconds (timeout)" in result["msg"] and "after 2 attempts" in result["msg"], result["msg"]
    # two attempts of 2 s and one backoff of at most 0.5 s, plus the module's start: far from the hours it would take
    assert seconds < 15, seconds
    ledger.record(CATEGORY, "alerts page dribbled one byte every 0.5 s (timeout=2, retries=1)", "alert_info",
                  "clear error", "%s; ended after %.1f s (bound 15)" % (excerpt(result["msg"], width=150), seconds))


def test_dribbling_download_ends_at_download_timeout(emu, tmp_path, ledger):
    emu.stage_pcap("bndDribbled", 8 * MIB)
    emu.clear_faults()
    emu.inject_fault(method="GET", path="/bndDribbled/download/$", kind="dribble", chunk=65536, delay=0.25)
    dest = tmp_path / "dl"
    dest.mkdir()
    try:
        result, _rss, seconds = run_module_direct("pcap_download", connection(
            emu, filename="bndDribbled", dest=str(dest), timeout=TIMEOUT, download_timeout=DOWNLOAD_TIMEOUT),
            tmp_path, timeout=120)
    finally:
        emu.clear_faults()
    assert result.get("failed") is True and "download_timeout (3 seconds)" in result["msg"], result
    assert seconds < 12, seconds  # 8 MiB at this pace would take 32 s
    assert files_under(dest) == []
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "8 MiB pcap dribbled (64 KiB every 0.25 s), download_timeout=3", "pcap_download",
                  "clear error", "%s; ended after %.1f s (bound 12)" % (excerpt(result["msg"], width=150), seconds))


# ------------------------------------------------------------------------------------------------ killed runs

class ModuleProcess:
    """``stamus.scs.<module>`` as its own process, to be killed."""

    def __init__(self, module, args, workdir):
        args_file = os.path.join(str(workdir), "%s-kill-args.json" % module)
        with open(args_file, "w", encoding="utf-8") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
        env = {key: value for key, value in os.environ.items() if not key.startswith(("SCS_", "ANSIBLE_"))}
        env["PYTHONPATH"] = COLLECTIONS
        launcher = MODULE_LAUNCHER % (os.path.join(str(workdir), "%s-kill-hwm.txt" % module), args_file, module)
        self.proc = subprocess.Popen([sys.executable, "-c", launcher], env=env, cwd=str(workdir),  # pylint: disable=consider-using-with
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill_when(self, ready, timeout=60):
        """SIGKILL the process as soon as ``ready()`` is true; return what ``ready()`` returned."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                found = ready()
                if found:
                    return found
                assert self.proc.poll() is None, "the module ended before it could be killed"
                time.sleep(0.05)
            raise AssertionError("nothing to kill for: the download never started")
        finally:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def parts_in(directory):
    return [name for name in files_under(directory) if os.path.basename(name).endswith(".part")]


def test_killed_download_leaves_a_part_that_the_next_run_removes(emu, tmp_path, ledger):
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / "notes.txt").write_text("kept")
    (dest / ".notes.txt.part").write_text("not ours: kept")
    emu.stage_pcap("bndKilled", 8 * MIB)
    emu.clear_faults()
    emu.inject_fault(method="GET", path="/bndKilled/download/$", kind="dribble", chunk=1024 * 1024, delay=0.5)
    args = connection(emu, filename="bndKilled", dest=str(dest))
    try:
        left = ModuleProcess("pcap_download", args, tmp_path).kill_when(
            lambda: [name for name in parts_in(dest) if name != ".notes.txt.part"])
    finally:
        emu.clear_faults()
    assert parts_in(dest) == sorted(left + [".notes.txt.part"])  # a killed process cannot clean up
    emu.stage_pcap("bndKilled", 2 * MIB)
    run = run_tasks(tmp_path, emu.env(), [{"name": "Again", "stamus.scs.pcap_download": args, "register": "again"}])
    again = run["again"]
    assert not again.get("failed") and again["size"] == 2 * MIB, again
    assert sorted(files_under(dest)) == [".notes.txt.part", "bndKilled.pcap", "notes.txt"], files_under(dest)
    assert any("Removed 1 temporary file(s) that an interrupted download" in warning for warning in again["warnings"])
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "pcap_download killed (SIGKILL) mid-download, then run again on the same dest",
                  "pcap_download", "survived", "the killed run left its .bndKilled.pcap.<host>-<pid>.<random>.part; the "
                  "rerun removed it (and only it: a foreign hidden .part and another file stayed) and downloaded the pcap")


def test_killed_evidence_run_leaves_a_part_that_the_next_run_removes(emu, tmp_path, ledger):
    alert = lone_alerts(emu)[-1]
    dest = tmp_path / "evidence"
    emu.clear_faults()
    emu.inject_fault(method="GET", path="/%s/download/$" % alert["_id"], kind="dribble", chunk=256, delay=0.5)
    args = connection(emu, alerts=[alert], dest=str(dest))
    try:
        left = ModuleProcess("alert_pcap", args, tmp_path).kill_when(lambda: parts_in(dest))
    finally:
        emu.clear_faults()
    assert parts_in(dest) == left and evidence_problems(dest)
    run = run_tasks(tmp_path, emu.env(), [{"name": "Again", "stamus.scs.alert_pcap": args, "register": "again"}])
    again = run["again"]
    assert not again.get("failed") and again["summary"]["fetched"] == 1, again
    assert evidence_problems(dest) == [] and parts_in(dest) == []
    assert any("Removed 1 temporary file(s) that an interrupted run left" in warning for warning in again["warnings"])
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "alert_pcap killed (SIGKILL) mid-download, then run again on the same dest", "alert_pcap",
                  "survived", "the killed run left <probe>/.<flow_id>.pcap.<host>-<pid>.<random>.part; the rerun "
                  "removed it under the dest lock and fetched the pcap with its manifest")
