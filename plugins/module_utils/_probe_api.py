# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every Probe Management path and field name the collection relies on, in one place.

Only part of the Probe Management API is public. The names marked "assumed" follow Scirius's DRF
conventions and are what the project's emulator serves; on a real SCS they can be confirmed with
``GET /rest/`` (route map) and ``OPTIONS /rest/appliances/probe/<id>/`` (field names and labels), and
overridden without editing code through the ``api_overrides`` option of the probe modules.
"""

from __future__ import annotations

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError

API_DEFAULTS = {
    # known: the probe collection, its key, its legacy name, and the push of pending changes
    "probe_path": "appliances/probe/",
    "legacy_probe_path": "appliances/appliance/",
    "probe_key": "appliance_id",
    "push_action": "update_push_all/",
    # known: the checkbox label in the SCS UI, used to find the flag in DRF OPTIONS metadata
    "pcap_label": "Activate pcap extraction on alerts",
    # assumed
    "pcap_field": "conditional_pcap",
    "template_path": "appliances/template/",
    "template_key": "pk",
    "probe_template_field": "template",
    "pending_field": "pending_changes",
    "comment_field": "comment",
    "task_path": "appliances/task/{pk}/",
    # likely (Scirius permission names), used in messages only
    "write_permission": "rules.configuration_edit",
    "push_permission": "rules.ruleset_update_push",
}
ASSUMED_KEYS = frozenset(("pcap_field", "template_path", "template_key", "probe_template_field", "pending_field",
                          "comment_field", "task_path"))


def resolve_api(overrides=None):
    """The defaults with the user's ``api_overrides`` applied; unknown keys are refused, listing the valid ones."""
    api = dict(API_DEFAULTS)
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(API_DEFAULTS))
    if unknown:
        raise ScsConfigError("api_overrides has unknown key(s) %s; valid keys: %s." % (
            ", ".join(unknown), ", ".join(sorted(API_DEFAULTS))))
    for key, value in overrides.items():
        if not isinstance(value, str) or not value.strip():
            raise ScsConfigError("api_overrides.%s must be a non-empty string (got %r)." % (key, value))
        if key.endswith("_path") or key == "push_action":
            value = value.strip("/") + "/"
        if key == "task_path" and "{pk}" not in value:
            raise ScsConfigError("api_overrides.task_path must contain {pk} where the task id goes (got %r)." % value)
        api[key] = value
    api["overridden"] = sorted(overrides)
    return api
