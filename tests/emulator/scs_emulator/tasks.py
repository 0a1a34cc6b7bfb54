"""Apply-changes tasks: update_push_all creates one; it finishes after a short delay.

A task is 'scheduled', then 'running' after half its delay, then 'finished' after its delay (or
advanced lazily by any Probe Management / admin request, and by a timer thread). On finish, each
probe is pushed: success clears pending_changes and makes the probe's effective pcap flag its
applied state; a probe fault (admin API) makes it 'failed' or 'unreachable' (pending kept) or
'warning' (applied anyway). The task succeeds when no probe failed or was unreachable.
"""

import datetime
import threading
import time

from django.db import close_old_connections, connections, transaction

from . import runtime
from .models import Probe, Task

_LOCK = threading.Lock()
_STATE = {"maybe_unfinished": True}


def create(user):
    delay = float(runtime.CONFIG.get("task_delay", 0.5))
    task = Task.objects.create(status="scheduled", delay=delay, user=getattr(user, "username", ""))
    _STATE["maybe_unfinished"] = True
    timer = threading.Timer(delay + 0.01, _timer_advance)
    timer.daemon = True
    timer.start()
    return task


def _timer_advance():
    try:
        close_old_connections()
        advance()
    finally:
        connections.close_all()


def advance():
    """Move unfinished tasks forward according to their age."""
    if not _STATE["maybe_unfinished"]:
        return
    with _LOCK:
        now = time.time()
        pending = list(Task.objects.filter(status__in=["scheduled", "running"]))
        left = False
        for task in pending:
            age = now - task.created.timestamp()
            if age >= task.delay:
                _finish(task)
            else:
                left = True
                if age >= task.delay / 2 and task.status == "scheduled":
                    task.status = "running"
                    task.save(update_fields=["status"])
        _STATE["maybe_unfinished"] = left


def _finish(task):
    results = []
    success = True
    with transaction.atomic():
        for probe in Probe.objects.select_related("template"):
            fault = runtime.consume_probe_fault(probe.name)
            if fault and fault["status"] in ("failed", "unreachable"):
                success = False
                results.append({"probe": probe.name, "status": fault["status"],
                                "message": fault.get("message") or "Probe %s %s" % (probe.name, fault["status"])})
                continue
            message = "Configuration applied" if probe.pending_changes else "No pending changes"
            probe.applied_pcap = probe.effective_pcap
            probe.pending_changes = False
            probe.last_seen = datetime.datetime.now(tz=datetime.timezone.utc)
            probe.save(update_fields=["applied_pcap", "pending_changes", "last_seen"])
            if fault:
                results.append({"probe": probe.name, "status": "warning", "message": fault.get("message") or message})
            else:
                results.append({"probe": probe.name, "status": "success", "message": message})
        task.status = "finished"
        task.success = success
        task.results = results
        task.save(update_fields=["status", "success", "results"])
