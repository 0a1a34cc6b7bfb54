# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every Probe Management path, field name and task rule the collection relies on, in one place.

Only part of the Probe Management API is public. The names marked "assumed" follow Scirius's DRF
conventions and are what the project's emulator serves; on a real SCS they can be confirmed by calling each path
(``GET /rest/`` lists only router viewsets) and ``OPTIONS /rest/appliances/probe/<id>/`` (field names and labels), and
overridden without editing code through the ``api_overrides`` option of the probe modules.
"""

from __future__ import annotations

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError

API_DEFAULTS = {
    # confirmed: the probe collection and its key (scout ProbeDto); the legacy name is that of the older apply path
    # (scirius-ui before 2022-11), assumed to be the probe collection of older SCS
    "probe_path": "appliances/probe/",
    "legacy_probe_path": "appliances/appliance/",
    "probe_key": "appliance_id",
    # confirmed: the apply call. Both SCS web UIs post to appliances/probe/update_push_all/ with no body and label
    # it "Update / Push ruleset": it builds and pushes the ruleset, and may fetch rule sources. That it also applies
    # pending probe settings is assumed (no other public call does). Without an apply_path override it is
    # <probe collection><push_action>, so the legacy
    # collection gets appliances/appliance/update_push_all/. push_action is kept for older playbooks.
    "apply_path": "appliances/probe/update_push_all/",
    "push_action": "update_push_all/",
    # confirmed: no body by default (both UIs send none; open-source Scirius reads only an optional "comment"). A
    # JSON object sent as the body of the apply call, the module's comment added under comment_field.
    "apply_body": {},
    # known from the SCS UI (the Probe Management pages are not public code): the checkbox label, used to find the
    # flag in DRF OPTIONS metadata
    "pcap_label": "Activate pcap extraction on alerts",
    # assumed
    "pcap_field": "conditional_pcap",
    "template_path": "appliances/template/",
    "template_key": "pk",
    "probe_template_field": "template",
    "pending_field": "pending_changes",
    "comment_field": "comment",
    "task_path": "appliances/task/{pk}/",
    # Used in messages only. write_permission: likely (Scirius naming). push_permission: confirmed for update_push_all
    # in open-source Scirius and in scout's permission list.
    "write_permission": "rules.configuration_edit",
    "push_permission": "rules.ruleset_update_push",
}
# Keys whose value is a JSON object rather than a string.
OBJECT_KEYS = frozenset(("apply_body",))
ASSUMED_KEYS = frozenset(("legacy_probe_path", "pcap_field", "template_path", "template_key", "probe_template_field",
                          "pending_field", "comment_field", "task_path", "write_permission"))

# -- the apply call's answers ---------------------------------------------------------------------------------------
# SCS (typed in scout's rules.api.ts, read by no public code): {"task_pk": N}, a task to follow at task_path.
APPLY_TASK_KEY = "task_pk"
# Open-source Scirius (suricata/rest_api.py), synchronous: {"update_push_all": "ok"}; a list of messages when a
# reload was already asked ({"update_push_all": ["Suricata restart already asked"]}): applied with a warning.
APPLY_SYNC_KEY = "update_push_all"
APPLY_SYNC_OK = "ok"

# -- the apply task ---------------------------------------------------------------------------------------------------
# Confirmed in open-source Scirius (suricata/models.py CeleryTaskBase/CeleryTaskResultBase, suricata/tasks.py
# run_celery_task): the statuses, the fields and the retry rule below. Assumed: that SCS serialises the task at
# task_path with these field names, and that each result names its probe in "probe" (the open-source result has no
# probe field; its add_result passes extra fields through, which the SCS subclass presumably uses).
TASK_WAITING = frozenset(("scheduled", "running"))
TASK_FINISHED = "finished"
TASK_REVOKED = "revoked"
TASK_STATUSES = TASK_WAITING | frozenset((TASK_FINISHED, TASK_REVOKED))
RESULT_FAILED = frozenset(("failed", "unreachable"))
RESULT_WARNING = "warning"
RESULT_SUCCESS = "success"
RESULT_STATUSES = RESULT_FAILED | frozenset((RESULT_WARNING, RESULT_SUCCESS))
TASK_FIELDS = {"status": "status", "success": "success", "results": "results", "retry": "retry", "eta": "eta"}
RESULT_FIELDS = {"probe": "probe", "status": "status", "message": "message", "retry_no": "retry_no"}
# @shared_task(max_retries=3): after a failed attempt the task is saved "finished" (success false unless some result
# so far is a success or a warning) with eta = now + 3 minutes, then runs again ("running"); "retry" counts the
# attempts made, so retries remain while retry <= TASK_MAX_RETRIES. The last failed attempt also gets an eta.
TASK_MAX_RETRIES = 3
TASK_RETRY_DELAY = 180


def resolve_api(overrides=None):
    """The defaults with the user's ``api_overrides`` applied, as the argument spec (_argspecs.PROBE_API_SPEC) left
    them: known keys only, unset ones None. What the spec cannot say (non-empty, ``{pk}``) is checked here."""
    api = {key: dict(value) if key in OBJECT_KEYS else value for key, value in API_DEFAULTS.items()}
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    for key, value in overrides.items():
        if key in OBJECT_KEYS:
            api[key] = dict(value)
            continue
        if not value.strip():
            raise ScsConfigError("api_overrides.%s must be a non-empty string (got %r)." % (key, value))
        if key.endswith("_path") or key == "push_action":
            value = value.strip("/") + "/"
        if key == "task_path" and "{pk}" not in value:
            raise ScsConfigError("api_overrides.task_path must contain {pk} where the task id goes (got %r)." % value)
        api[key] = value
    api["overridden"] = sorted(overrides)
    return api
