"""Apply tasks, run as Scirius runs its Celery tasks (suricata/tasks.py run_celery_task, suricata/models.py).

update_push_all creates a task: 'scheduled', 'running' after half of `task_delay`, then its attempt ends after
`task_delay`. The attempt pushes every probe: success clears pending_changes and makes the probe's effective pcap
flag its applied state; a probe fault (admin API) makes it 'failed' or 'unreachable' (pending kept) or 'warning'
(applied anyway). Each result is recorded with the attempt's `retry_no`.

When an attempt has a failed or unreachable probe it "raises": the task is saved 'finished' with `eta` =
now + `task_retry_delay`, `retry` + 1 and `success` true only if some result so far is a success or a warning
(set_finished), then at `eta` it runs again ('running', eta cleared), up to MAX_RETRIES retries. As in Scirius the
last failed attempt gets an `eta` too, though nothing runs then. A task that can still run (scheduled, or waiting
for its retry) can be revoked (admin API): 'revoked', eta cleared, success unchanged; it never runs again.

Tasks advance lazily on any Probe Management or admin request, and on timers.
"""

import datetime
import threading
import time

from django.db import close_old_connections, connections, transaction

from . import runtime
from .models import Probe, Task

# Scirius: @shared_task(bind=True, max_retries=3)
MAX_RETRIES = 3
_LOCK = threading.Lock()
_STATE = {"maybe_unfinished": True, "reload_until": 0.0}


class NotRevocable(Exception):
    pass


def create(user):
    delay = float(runtime.CONFIG.get("task_delay", 0.5))
    task = Task.objects.create(status="scheduled", delay=delay, started=time.time(), user=getattr(user, "username", ""))
    _wake(delay)
    return task


def _wake(after):
    _STATE["maybe_unfinished"] = True
    timer = threading.Timer(after + 0.01, _timer_advance)
    timer.daemon = True
    timer.start()


def _timer_advance():
    try:
        close_old_connections()
        advance()
    finally:
        connections.close_all()


def advance():
    """Move unfinished tasks forward according to the time."""
    if not _STATE["maybe_unfinished"]:
        return
    with _LOCK:
        now = time.time()
        left = False
        for task in Task.objects.filter(status__in=["scheduled", "running", "finished"]).exclude(status="finished",
                                                                                                 will_retry=False):
            left = _step(task, now) or left
        _STATE["maybe_unfinished"] = left


def _step(task, now):
    """Advance one task; whether it still has something to do."""
    if task.status == "finished":
        if now < task.eta.timestamp():
            return True
        # the retry starts: run_celery_task sets 'running' and clears eta
        task.started = task.eta.timestamp()
        task.status, task.eta, task.will_retry = "running", None, False
        task.save(update_fields=["status", "eta", "will_retry", "started"])
    age = now - task.started
    if age >= task.delay:
        _finish_attempt(task, task.started + task.delay)
        return task.will_retry
    if task.status == "scheduled" and age >= task.delay / 2:
        task.status = "running"
        task.save(update_fields=["status"])
    return True


def push_probe(probe):
    """Push one probe: ``(status, message)``; a success or a warning applies its configuration."""
    fault = runtime.consume_probe_fault(probe.name)
    if fault and fault["status"] in ("failed", "unreachable"):
        return fault["status"], fault.get("message") or "Probe %s %s" % (probe.name, fault["status"])
    message = "Configuration applied" if probe.pending_changes else "No pending changes"
    probe.applied_pcap = probe.effective_pcap
    probe.pending_changes = False
    probe.last_seen = datetime.datetime.now(tz=datetime.timezone.utc)
    probe.save(update_fields=["applied_pcap", "pending_changes", "last_seen"])
    if fault:
        return "warning", fault.get("message") or message
    return "success", message


def _finish_attempt(task, ended):
    attempt = task.retry
    with transaction.atomic():
        results = []
        for probe in Probe.objects.select_related("template"):
            status, message = push_probe(probe)
            results.append({"probe": probe.name, "status": status, "message": message, "retry_no": attempt})
        task.results = task.results + results
        failed = any(result["status"] in ("failed", "unreachable") for result in results)
        task.status = "finished"
        task.success = any(result["status"] in ("success", "warning") for result in task.results)
        task.retry = attempt + 1
        task.will_retry = failed and attempt < MAX_RETRIES
        if failed:
            retry_delay = float(runtime.CONFIG.get("task_retry_delay", 1.0))
            task.eta = datetime.datetime.fromtimestamp(ended + retry_delay, tz=datetime.timezone.utc)
            if task.will_retry:
                _wake(max(0.0, ended + retry_delay - time.time()) + task.delay)
        task.save(update_fields=["status", "success", "results", "retry", "will_retry", "eta"])


def revoke(pk=None):
    """Revoke a task that can still run (the latest when ``pk`` is None); raise NotRevocable otherwise."""
    advance()
    with _LOCK:
        task = Task.objects.filter(pk=pk).first() if pk is not None else Task.objects.order_by("-pk").first()
        if task is None:
            raise NotRevocable("no task %s" % pk if pk is not None else "no task yet")
        if not (task.status == "scheduled" or (task.status == "finished" and task.will_retry)):
            raise NotRevocable("task %s is %s%s: only a scheduled task or one waiting for its retry can be revoked" % (
                task.pk, task.status, ", attempt under way" if task.status == "running" else ""))
        task.status, task.eta, task.will_retry = "revoked", None, False
        task.save(update_fields=["status", "eta", "will_retry"])
        return task


def push_all_now():
    """Open-source Scirius's synchronous update_push_all: push every probe at once. Its answer is "ok", or the list
    ``["Suricata restart already asked"]`` while the previous push's reload (``task_delay`` long) is not done; the
    configuration is written in both cases. Nothing is reported per probe."""
    with _LOCK, transaction.atomic():
        for probe in Probe.objects.select_related("template"):
            push_probe(probe)
        now = time.time()
        if now < _STATE["reload_until"]:
            return ["Suricata restart already asked"]
        _STATE["reload_until"] = now + float(runtime.CONFIG.get("task_delay", 0.5))
        return "ok"
