# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Applying pending Probe Management changes: the apply call's answer, the task's lifecycle, each probe's state.

The apply call is SCS's "Update / Push ruleset". It answers either a task to follow (``{"task_pk": N}``) or, on an
open-source style endpoint, a synchronous status (``{"update_push_all": "ok"}``). A task is judged as Scirius runs
it: a failed attempt leaves it ``finished`` until its retry runs, so that is "retrying", not a result; ``revoked``
is a cancellation; each probe is judged by its latest attempt only, earlier attempts are history.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsError, ScsProtocolError
from ansible_collections.stamus.scs.plugins.module_utils._probe_api import (
    APPLY_SYNC_KEY,
    APPLY_SYNC_OK,
    APPLY_TASK_KEY,
    RESULT_FAILED,
    RESULT_FIELDS,
    RESULT_STATUSES,
    RESULT_SUCCESS,
    RESULT_WARNING,
    TASK_FIELDS,
    TASK_MAX_RETRIES,
    TASK_RETRY_DELAY,
    TASK_REVOKED,
    TASK_STATUSES,
    TASK_WAITING,
)
from ansible_collections.stamus.scs.plugins.module_utils._text import printable, printable_tree

# The task id goes into a URL path and into messages.
TASK_PK_RE = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
# States of the whole apply and of each probe (documented in the modules' RETURN).
APPLIED = "applied"
APPLIED_WITH_WARNING = "applied_with_warning"
RETRYING = "retrying"
CANCELLED = "cancelled"
FAILED = "failed"
UNREACHABLE = "unreachable"
IN_PROGRESS = "in_progress"
STARTED = "started"
PENDING = "pending"
FINAL_STATES = frozenset((APPLIED, APPLIED_WITH_WARNING, CANCELLED, FAILED))
# What a message quotes of a server's text, and how many probes it names.
MESSAGE_CHARS = 300
NAMED_PROBES = 10
SYNC_MESSAGES = 10
UI_APPLY = ('the SCS web interface ("Update / Push ruleset", which also builds and pushes the ruleset) or '
            'stamus.scs.apply_changes')


class ApplyError(ScsError):
    """The apply did not end applied: failed or unreachable probes, cancelled, or still running (``detail``)."""

    def to_result(self):
        return {"apply": printable_tree(self.detail)}


def clip(text, limit=MESSAGE_CHARS):
    """A server's message, printable, cut to its last ``limit`` characters (a traceback ends with its reason)."""
    text = printable(text if text is not None else "").strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def read_answer(answer, call):
    """``(task_pk, sync_warnings)`` from the apply call's answer: a task to follow (``task_pk``), or ``None`` and the
    synchronous answer's messages (empty for ``"ok"``)."""
    if isinstance(answer, dict) and APPLY_TASK_KEY in answer:
        task_pk = answer[APPLY_TASK_KEY]
        if not isinstance(task_pk, bool) and isinstance(task_pk, (int, str)) and TASK_PK_RE.match(str(task_pk)):
            return task_pk, []
    elif isinstance(answer, dict) and APPLY_SYNC_KEY in answer:
        value = answer[APPLY_SYNC_KEY]
        if value == APPLY_SYNC_OK:
            return None, []
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            return None, [clip(item) for item in value[:SYNC_MESSAGES]]
    raise ScsProtocolError(
        "%s answered without a usable task_pk nor an %s status (%.200r). SCS answers {\"task_pk\": N}, open-source "
        "Scirius {\"update_push_all\": \"ok\"}; check the SCS version and api_overrides.apply_path." % (
            call, APPLY_SYNC_KEY, answer))


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_time(value):
    """An ISO 8601 time from SCS (``Z`` or an offset; naive means UTC) as an aware datetime, or None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def will_retry(task, now):
    """Whether a ``finished`` task will run again.

    Scirius saves a failed attempt as ``finished`` with ``eta`` set (now + 3 minutes) and runs it again while retries
    remain (``retry`` counts the attempts made, at most ``TASK_MAX_RETRIES`` + 1); a new attempt clears ``eta``, and a
    task that does not retry never gets one. Without ``eta`` in the answer: ``success: false`` while retries remain.
    Without ``retry``: only an ``eta`` still in the future.
    """
    retry = _int(task.get(TASK_FIELDS["retry"]))
    if retry is not None and retry > TASK_MAX_RETRIES:
        return False
    eta_field = TASK_FIELDS["eta"]
    if eta_field in task:
        if task[eta_field] is None:
            return False
        if retry is not None:
            return True
        eta = parse_time(task[eta_field])
        return eta is not None and eta > now
    return retry is not None and task.get(TASK_FIELDS["success"]) is False


def probe_results(results):
    """One entry per probe, judged by its latest attempt (highest ``retry_no``, then the last listed); the earlier
    attempts go to its ``history``."""
    if not isinstance(results, list):
        raise ScsProtocolError("The apply task's results are %.100r instead of a list." % (results,))
    by_probe = {}
    for order, item in enumerate(results):
        if not isinstance(item, dict):
            continue
        name = item.get(RESULT_FIELDS["probe"])
        attempt = {"retry_no": _int(item.get(RESULT_FIELDS["retry_no"])) or 0,
                   "status": printable(item.get(RESULT_FIELDS["status"])),
                   "message": clip(item.get(RESULT_FIELDS["message"]), limit=4000), "_order": order}
        by_probe.setdefault(printable(name) if name is not None else None, []).append(attempt)
    entries = []
    for name, attempts in by_probe.items():
        attempts.sort(key=lambda attempt: (attempt["retry_no"], attempt["_order"]))
        for attempt in attempts:
            del attempt["_order"]
        latest = attempts[-1]
        entries.append(dict(latest, probe=name, history=attempts[:-1]))
    return entries


def _probe_state(status, task_state):
    if status == RESULT_SUCCESS:
        return APPLIED
    if status == RESULT_WARNING:
        return APPLIED_WITH_WARNING
    if task_state in (RETRYING, CANCELLED):
        return task_state
    return UNREACHABLE if status == "unreachable" else FAILED


def judge(task, now):
    """The apply's state and each probe's from one task answer (``task`` made printable by the caller)."""
    status = task.get(TASK_FIELDS["status"])
    if status not in TASK_STATUSES:
        raise ScsProtocolError("The apply task has status %.100r, not one of %s." % (
            status, ", ".join(sorted(TASK_STATUSES))))
    probes = probe_results(task.get(TASK_FIELDS["results"]) or [])
    attempts = _int(task.get(TASK_FIELDS["retry"]))
    if attempts is None:
        attempts = max([probe["retry_no"] + 1 for probe in probes] or [0])
    if status == TASK_REVOKED:
        state = CANCELLED
    elif status in TASK_WAITING:
        state = RETRYING if attempts else IN_PROGRESS
    elif will_retry(task, now):
        state = RETRYING
    elif task.get(TASK_FIELDS["success"]) is False or any(
            probe["status"] in RESULT_FAILED or probe["status"] not in RESULT_STATUSES for probe in probes):
        state = FAILED
    elif any(probe["status"] == RESULT_WARNING for probe in probes):
        state = APPLIED_WITH_WARNING
    else:
        state = APPLIED
    for probe in probes:
        probe["state"] = _probe_state(probe["status"], state)
    return {"status": status, "state": state, "finished": state in FINAL_STATES, "attempts": attempts, "probes": probes,
            "next_attempt": printable(task.get(TASK_FIELDS["eta"])) if state == RETRYING and task.get(TASK_FIELDS["eta"])
            else None}


def _label(probe):
    return probe["probe"] if probe["probe"] is not None else "the task"


def _listing(probes, describe):
    named = ["%s %s" % (_label(probe), describe(probe)) for probe in probes[:NAMED_PROBES]]
    if len(probes) > NAMED_PROBES:
        named.append("and %d more (see apply.probes)" % (len(probes) - NAMED_PROBES))
    return "; ".join(named)


def _failure(probe):
    return "%s: %s" % (probe["status"], clip(probe["message"]))


def _recovered(probes):
    """Probes whose earlier attempts failed but whose latest did not: history, reported, not failures."""
    return [probe for probe in probes if probe["state"] in (APPLIED, APPLIED_WITH_WARNING)
            and any(attempt["status"] in RESULT_FAILED for attempt in probe["history"])]


def pending_result(pending, why):
    """The result when nothing is pushed (``why``: ``apply=false`` or ``check mode``): the probes with pending changes,
    and how to apply them."""
    names = [printable(name) for name in pending]
    shown = ", ".join(names[:NAMED_PROBES]) + (" and %d more" % (len(names) - NAMED_PROBES) if len(names) > NAMED_PROBES else "")
    probes = "%d probe(s) %s" % (len(names), shown) if names else "no probe listed as"
    if why == "check mode":
        msg = "Check mode: nothing pushed; would apply the changes of %s pending in SCS." % probes
    else:
        msg = "Not applied (%s): %s pending in SCS. Apply them in %s." % (why, probes, UI_APPLY)
    return {"state": PENDING, "task_pk": None, "finished": False, "pending": names, "probes": [], "warnings": [],
            "msg": msg}


class Applier:
    """Sends the apply call and follows its task within a deadline (the manager's sleep, clock and now)."""

    def __init__(self, manager):
        self.manager = manager
        self._sleep = manager.sleep
        self._clock = manager.clock
        self._now = manager.now

    def apply(self, comment=None, wait=True, timeout=300):
        """Push, then (with ``wait``) follow the task; return the apply result or raise ApplyError with it."""
        path = self.manager.apply_path
        task_pk, sync_warnings = read_answer(self.manager.push(comment), "POST /rest/%s" % path)
        result = {"path": path, "task_pk": task_pk, "finished": False, "state": STARTED, "attempts": 0,
                  "next_attempt": None, "probes": [], "warnings": [], "task": None}
        if task_pk is None:
            result.update(finished=True, state=APPLIED_WITH_WARNING if sync_warnings else APPLIED,
                          warnings=["SCS: %s" % message for message in sync_warnings],
                          msg="SCS applied the changes at once (POST /rest/%s answered without a task), so there is no "
                              "per-probe result." % path)
            return result
        if not wait:
            result["msg"] = ("SCS started apply task %s; not followed (wait=false). Follow it in the SCS web interface "
                             "(its task list), then check pending_changes with stamus.scs.probe_info." % task_pk)
            return result
        task, verdict = self._follow(task_pk, timeout)
        result.update(verdict, task=task)
        result["warnings"] = ["%s applied with a warning: %s" % (_label(probe), clip(probe["message"]))
                              for probe in verdict["probes"] if probe["state"] == APPLIED_WITH_WARNING]
        recovered = _recovered(verdict["probes"])
        note = (" Earlier attempts failed for %s; their latest attempt counts." % _listing(
            recovered, lambda probe: "(attempt %d)" % (probe["retry_no"] + 1))) if recovered else ""
        if result["state"] in (APPLIED, APPLIED_WITH_WARNING):
            result["msg"] = "Apply task %s: %s on %d probe(s) after %d attempt(s).%s" % (
                task_pk, result["state"], len(verdict["probes"]), max(verdict["attempts"], 1), note)
            return result
        result["msg"] = self._failure_message(task_pk, verdict, timeout) + note
        raise ApplyError(result["msg"], detail=result)

    def _follow(self, task_pk, timeout):
        """Poll the task until it reaches a final state or ``timeout`` seconds pass: ``(task, verdict)``."""
        deadline = self._clock() + timeout
        delay = 0.25
        while True:
            task = self.manager.task(task_pk)
            if not isinstance(task, dict):
                raise ScsProtocolError("Task %s answered %.200r instead of a task object." % (task_pk, task))
            task = printable_tree(task)  # the probes' messages are shown to the user
            verdict = judge(task, self._now())
            if verdict["finished"] or self._clock() + delay > deadline:
                return task, verdict
            self._sleep(delay)
            delay = min(delay * 2, 5.0)

    @staticmethod
    def _failure_message(task_pk, verdict, timeout):
        probes = verdict["probes"]
        state = verdict["state"]
        broken = [probe for probe in probes if probe["state"] not in (APPLIED, APPLIED_WITH_WARNING)]
        if state == CANCELLED:
            return ("Apply task %s was cancelled (revoked) in SCS after %d attempt(s)%s. The changes stay pending: "
                    "apply again once the reason is known." % (
                        task_pk, verdict["attempts"], "; last results: " + _listing(broken, _failure) if broken else ""))
        if state == RETRYING:
            attempts = max(verdict["attempts"], 1)
            if verdict["status"] in TASK_WAITING:
                retry = "attempt %d is %s now" % (attempts + 1, verdict["status"])
            else:
                retry = "SCS runs the next attempt %s (about %d minutes after a failure)" % (
                    "at %s" % verdict["next_attempt"] if verdict["next_attempt"] else "when it is due",
                    TASK_RETRY_DELAY // 60)
            return ("Apply task %s is still retrying after %s seconds: attempt %d of %d failed%s; %s. Follow it in the "
                    "SCS web interface (its task list) and check pending_changes with stamus.scs.probe_info, or raise "
                    "wait_timeout to wait for the retries." % (
                        task_pk, timeout, attempts, TASK_MAX_RETRIES + 1,
                        " (" + _listing(broken, _failure) + ")" if broken else "", retry))
        if state == IN_PROGRESS:
            return ("Apply task %s is still %s after %s seconds; raise wait_timeout or follow the task in the SCS web "
                    "interface (its task list)." % (task_pk, verdict["status"], timeout))
        return "Apply task %s failed after %d attempt(s): %s. Fix those probes and apply again." % (
            task_pk, max(verdict["attempts"], 1), _listing(broken, _failure) or "SCS reported success=false")


def apply_changes(manager, comment=None, wait=True, timeout=300):
    """Push pending changes (SCS "Update / Push ruleset") and, with ``wait``, follow the task: see Applier.apply."""
    return Applier(manager).apply(comment, wait, timeout)
