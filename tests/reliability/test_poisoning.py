"""Alert data that could poison the stamus.scs.alerts event source: the plugin's own main() polls the HTTPS emulator
while SCS answers with an alert dated 2099 on every page, a null among the results, or after a restart from a state
file whose mark is in 2099. The source must keep emitting new alerts, each once, and say what it skipped."""

import asyncio
import importlib.util
import json
import logging
import os
import re
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # runner, under --import-mode=importlib

from runner import COLLECTIONS, TOKEN_MARKER, Emulator  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Poisoning"
WHERE = "stamus.scs.alerts event source"
PLUGIN = os.path.join(COLLECTIONS, "ansible_collections", "stamus", "scs", "extensions", "eda", "plugins", "event_source",
                      "alerts.py")
FAR_FUTURE = "2099-01-01T00:00:00.000Z"
FAR_FUTURE_MS = 4070908800000
DEADLINE = 30
HOST_CLOCK_RE = re.compile(r"\((?!2099)\d{4}-\d\d-\d\dT[\d:.]+Z\)")  # this host's clock in a message: not for the ledger


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=83, probes=2, templates=1, alerts=20, flows=10, pcap="none", token=TOKEN_MARKER) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def plugin():
    spec = importlib.util.spec_from_file_location("stamus_scs_alerts_source", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Logs(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    @property
    def text(self):
        return "\n".join(self.messages)


class Source:
    """The plugin's main(queue, args) on its own event loop in a thread; the events it queues are collected."""

    def __init__(self, plugin, args):
        self.events = []
        self.error = None
        self.logs = Logs()
        logging.getLogger("stamus.scs.alerts").addHandler(self.logs)
        logging.getLogger("stamus.scs.alerts").setLevel(logging.INFO)
        self.loop = asyncio.new_event_loop()
        self.task = self.loop.create_task(self._run(plugin, args))
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.task,), daemon=True)
        self.thread.start()

    async def _run(self, plugin, args):
        events = self.events

        class Queue:
            async def put(self, event):
                events.append(event)

        try:
            await plugin.main(Queue(), args)
        except asyncio.CancelledError:
            pass
        except Exception as err:  # pylint: disable=broad-exception-caught
            self.error = err

    def ids(self):
        return [event["stamus_alert"]["_id"] for event in self.events]

    def stop(self):
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(30)
        logging.getLogger("stamus.scs.alerts").removeHandler(self.logs)
        assert not self.thread.is_alive()


def source_args(emu, tmp_path, **extra):
    return dict({"scs_url": emu.url, "scs_token": emu.token, "ca_path": emu.ca_path, "interval": 0.3,
                 "state_file": str(tmp_path / "state.json")}, **extra)


def polls(emu):
    return len([entry for entry in emu.requests() if entry["path"].endswith("/alerts_tail/")])


def wait_for(what, check, source):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if source.error is not None:
            pytest.fail("the source stopped: %s\n%s" % (source.error, source.logs.text[-3000:]))
        if check():
            return
        time.sleep(0.1)
    pytest.fail("%s: not within %ss; events %s\n%s" % (what, DEADLINE, source.ids(), source.logs.text[-3000:]))


def wait_polls(emu, source, count):
    start = polls(emu)
    wait_for("%d more polls" % count, lambda: polls(emu) >= start + count, source)


def assert_clean(source, ledger):
    assert "Traceback" not in source.logs.text and TOKEN_MARKER not in source.logs.text
    assert "Polling SCS failed" not in source.logs.text, source.logs.text
    ledger.checked("no traceback")
    ledger.checked("no token leak")


def test_an_alert_dated_2099_on_every_page_is_emitted_once_and_hides_nothing(emu, plugin, tmp_path, ledger):
    forged = dict(emu.alerts()[0], _id="forgedFuture2099", **{"@timestamp": FAR_FUTURE, "host": "probe-01"})
    emu.clear_faults()
    emu.clear_requests()
    source = Source(plugin, source_args(emu, tmp_path))
    try:
        wait_polls(emu, source, 2)  # primed: the alerts already on SCS are noted, not emitted
        emu.inject_fault(method="GET", path="alerts_tail", kind="extra_result", count=-1, body=forged)
        wait_for("the forged alert", lambda: "forgedFuture2099" in source.ids(), source)
        later = emu.add_alerts(probe="probe-02", count=1)[0]
        wait_for("the alert added after it", lambda: later["_id"] in source.ids(), source)
        wait_polls(emu, source, 3)
    finally:
        source.stop()
    assert source.ids() == ["forgedFuture2099", later["_id"]], source.ids()
    warning = [line for line in source.logs.messages if "max_clock_skew" in line]
    assert len(warning) == 1 and "'forgedFuture2099'" in warning[0] and repr(FAR_FUTURE) in warning[0], warning
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["hwm"] <= int(time.time() * 1000), state["hwm"]  # the newest genuine alert, not 2099

    restarted = Source(plugin, source_args(emu, tmp_path))  # from the state file, the forged alert still served
    try:
        wait_polls(emu, restarted, 2)
        after_restart = emu.add_alerts(probe="probe-01", count=1)[0]
        wait_for("an alert added after the restart", lambda: after_restart["_id"] in restarted.ids(), restarted)
        wait_polls(emu, restarted, 3)
    finally:
        restarted.stop()
        emu.clear_faults()
    assert restarted.ids() == [after_restart["_id"]], restarted.ids()
    assert_clean(source, ledger)
    assert_clean(restarted, ledger)
    ledger.record(CATEGORY, "SCS returns an alert dated 2099 on every alerts_tail page", WHERE, "survived",
                  "emitted once with a warning (%s...); the mark stayed at the newest genuine alert; the alert added next "
                  "was emitted, and after a restart from state_file only the newer one"
                  % HOST_CLOCK_RE.sub("(now)", warning[0])[:150])


def test_a_null_among_the_results_is_skipped_and_the_source_goes_on(emu, plugin, tmp_path, ledger):
    emu.clear_faults()
    emu.clear_requests()
    source = Source(plugin, source_args(emu, tmp_path))
    try:
        wait_polls(emu, source, 2)
        emu.inject_fault(method="GET", path="alerts_tail", kind="extra_result", count=-1)  # a null on every page
        new = emu.add_alerts(probe="probe-01", count=2)
        wait_for("the alerts added with a null on every page", lambda: set(source.ids()) == {a["_id"] for a in new},
                 source)
        wait_polls(emu, source, 2)
    finally:
        source.stop()
        emu.clear_faults()
    assert sorted(source.ids()) == sorted(alert["_id"] for alert in new)
    skipped = [line for line in source.logs.messages if "not an alert object" in line]
    assert skipped and skipped[0] == "Skipped a result that is not an alert object (NoneType): None", skipped
    assert_clean(source, ledger)
    ledger.record(CATEGORY, "SCS returns a null among the alerts_tail results, on every page", WHERE, "survived",
                  "%s (once per poll); no poll failed; both alerts added meanwhile emitted once" % skipped[0])


def test_a_state_file_with_a_mark_in_2099_is_moved_back(emu, plugin, tmp_path, ledger):
    """A state file written before the mark was capped (or on a host whose clock ran ahead)."""
    now_ms = int(time.time() * 1000)
    (tmp_path / "state.json").write_text(json.dumps({"version": 1, "hwm": FAR_FUTURE_MS, "floor": now_ms - 60000,
                                                     "resume_from": None, "seen": {"forgedFuture2099": FAR_FUTURE_MS}}))
    emu.clear_faults()
    emu.clear_requests()
    source = Source(plugin, source_args(emu, tmp_path))
    try:
        wait_polls(emu, source, 1)
        new = emu.add_alerts(probe="probe-02", count=1)[0]
        wait_for("the alert added after the start", lambda: new["_id"] in source.ids(), source)
    finally:
        source.stop()
    # the alerts of the last overlap the state does not know of (added by the tests before) may come too, once each
    assert new["_id"] in source.ids() and len(set(source.ids())) == len(source.ids())
    assert "forgedFuture2099" not in source.ids()
    moved = [line for line in source.logs.messages if "moves back" in line]
    assert moved and "2099-01-01T00:00:00.000Z" in moved[0], source.logs.text
    assert_clean(source, ledger)
    ledger.record(CATEGORY, "state_file whose mark is in 2099 (written before the cap)", WHERE, "survived",
                  "%s; the next alert was emitted" % HOST_CLOCK_RE.sub("(now)", moved[0])[:180])
