"""Helpers of the bad-input, scale and secrets parts of the reliability suite.

`CaseBatch` runs many cases as one real ansible-playbook run. Before each case's task it sends one request to
``/rest/_case/<key>/`` (an unknown URL: a 404 that the emulator logs), so that the emulator's request log can be cut
into the requests each case made.
"""

import json
import os
import time
from urllib.parse import parse_qs

from runner import run_module_process, run_tasks

CASE_PREFIX = "/rest/_case/"
# The endpoints a case that can be decided locally must not reach.
DATA_ENDPOINTS = ("/rest/rules/filestore_pcap/", "/rest/rules/es/alerts_tail/")
TRACEBACK_SIGNS = ("Traceback (most recent call last)", "MODULE FAILURE")


class CaseBatch:
    """Cases (key, task) run in one playbook; ``requests_of(key)`` is what that case sent to SCS."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.tasks = []
        self.keys = []
        self.run = None
        self._segments = {}

    def add(self, key, module, args, **task_extra):
        marker = {"name": "case %s" % key, "ansible.builtin.uri": {
            "url": "%s%s%s/" % (self.emulator.url, CASE_PREFIX, key), "status_code": [404],
            "ca_path": self.emulator.ca_path or None, "return_content": False}}
        if not self.emulator.ca_path:
            del marker["ansible.builtin.uri"]["ca_path"]
        task = dict({"name": key, module: args, "register": key}, **task_extra)
        self.tasks += [marker, task]
        self.keys.append(key)

    def execute(self, tmp_path, env=None, verbosity=0):
        self.emulator.clear_requests()
        self.run = run_tasks(tmp_path, dict(self.emulator.env(), **(env or {})), self.tasks, verbosity=verbosity)
        current = None
        for entry in self.emulator.requests():
            if entry["path"].startswith(CASE_PREFIX):
                current = entry["path"][len(CASE_PREFIX):].strip("/")
                self._segments[current] = []
            elif current is not None:
                self._segments[current].append(entry)
        missing = [key for key in self.keys if key not in self._segments]
        assert not missing, "case markers missing from the request log: %s\n%s" % (missing, self.run.stdout[-3000:])
        return self

    def __getitem__(self, key):
        return self.run[key]

    def requests_of(self, key):
        return self._segments[key]


def data_requests(entries):
    """The requests among ``entries`` that reached the pcap or alerts endpoints."""
    return [entry for entry in entries if entry["path"].startswith(DATA_ENDPOINTS)]


def query_of(entry):
    return {key: values[0] for key, values in parse_qs(entry.get("query") or "", keep_blank_values=True).items()}


def has_traceback(*texts):
    blob = "\n".join(text if isinstance(text, str) else json.dumps(text) for text in texts)
    return any(sign in blob for sign in TRACEBACK_SIGNS)


def result_has_traceback(result):
    """A registered result that carries a Python traceback (an uncaught exception in the module)."""
    # ansible-core 2.19 puts "(traceback unavailable)" in every failed result's `exception`: only a real one counts
    return has_traceback(result) or "Traceback" in str(result.get("module_stderr", ""))


def files_under(root):
    root = str(root)
    if not os.path.exists(root):
        return []
    return sorted(os.path.relpath(os.path.join(path, name), root) for path, _dirs, names in os.walk(root) for name in names)


def run_module_direct(module, args, workdir, timeout=600):
    """Run ``stamus.scs.<module>`` as its own process with ``args``; return ``(result dict, peak RSS MiB, seconds)``."""
    started = time.monotonic()
    run = run_module_process(module, args, workdir, timeout)
    seconds = time.monotonic() - started
    if run.result is None:
        raise AssertionError("module %s printed no JSON (rc %s):\n%s\n%s" % (
            module, run.rc, run.stdout[-3000:], run.stderr[-3000:]))
    return dict(run.result, _rc=run.rc, _stderr=run.stderr), run.peak_mib, seconds
