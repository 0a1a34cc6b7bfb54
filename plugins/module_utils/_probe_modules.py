# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Module plumbing shared by the Probe Management modules: their common options, the apply step, the info modules."""

from __future__ import annotations

from ansible_collections.stamus.scs.plugins.module_utils._apply import ApplyError, apply_changes, pending_result
from ansible_collections.stamus.scs.plugins.module_utils._argspecs import NAME_FILTER_SPEC, PROBE_API_SPEC, merged
from ansible_collections.stamus.scs.plugins.module_utils._module_base import ScsModule
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsError
from ansible_collections.stamus.scs.plugins.module_utils._probe_api import resolve_api
from ansible_collections.stamus.scs.plugins.module_utils._probes import FleetView, ProbeManager, filter_items


def probe_manager(module):
    """A ProbeManager on the module's client, with the user's api_overrides (raises ScsConfigError on bad ones)."""
    return ProbeManager(module.client, resolve_api(module.params["api_overrides"]))


def apply_step(module, manager, pending):
    """The module's ``apply`` result: in check mode what stays pending (``pending``: probe names); otherwise the apply
    call pushed and, with ``wait``, followed. Probes applied with a warning become module warnings; an apply that did
    not end applied raises ApplyError (its ``detail`` is this result)."""
    if module.check_mode:
        return pending_result(pending, "check mode")
    try:
        applied = apply_changes(manager, module.params["comment"], module.params["wait"], module.params["wait_timeout"])
    except ApplyError as err:
        _warn(module, err.detail)
        raise
    _warn(module, applied)
    return applied


def _warn(module, applied):
    for warning in applied.get("warnings") or []:
        module.warn(warning)


def run_info_module(kind):
    """List probes (``kind="probe"``) or templates (``kind="template"``) as ``<kind>s`` with ``count``."""
    module = ScsModule(argument_spec=merged(NAME_FILTER_SPEC, PROBE_API_SPEC), supports_check_mode=True)
    try:
        fleet = FleetView.read(probe_manager(module))
        items, view = (fleet.probes, fleet.probe) if kind == "probe" else (fleet.templates, fleet.template)
        selected = [view(item) for item in filter_items(items, module.params["names"], module.params["pattern"])]
    except ScsError as err:
        module.fail_scs(err)
    module.exit_json(changed=False, count=len(selected), **{kind + "s": selected})
