"""Callback of the benchmark: wall time of every task of a play, appended as JSON lines to $BENCH_TASK_TIMES."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_task_times
type: aggregate
short_description: time of each task, for tools/bench
description: Writes the wall time of each task to the file named by BENCH_TASK_TIMES.
requirements: [enabled in ANSIBLE_CALLBACKS_ENABLED]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.current, self.started, self.times = None, None, []

    def _next(self, name):
        now = time.monotonic()
        if self.current is not None:
            self.times.append([self.current, now - self.started])
        self.current, self.started = name, now

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._next(task.get_name())

    def v2_playbook_on_stats(self, stats):
        self._next(None)
        with open(os.environ["BENCH_TASK_TIMES"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(self.times) + "\n")
