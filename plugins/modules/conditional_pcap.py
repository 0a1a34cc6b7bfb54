#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: conditional_pcap
short_description: Turn conditional pcap on or off for SCS probes and probe templates
version_added: 1.0.0
description:
  - Sets "Activate pcap extraction on alerts" on probe templates and probes in SCS Probe Management, then optionally
    applies the pending changes so that the probes start or stop their conditional pcap store.
  - Reads the current state with two list calls (probes, templates), writes only what differs (one C(PATCH) per
    changed target) and reports C(changed) only when something was written.
  - A refused C(PATCH) (for example HTTP 403 for a token whose user may not change Probe Management) fails the task at
    that target; the targets after it are not sent. RV(targets) and RV(probes) then report only what SCS accepted
    (C(written), and C(after) equal to C(before) for every target not written), and the message lists what was and
    was not written.
  - Reports, per target, the value before and after, and for every affected probe its effective value (its own,
    or its template's when it inherits).
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - stamus.scs.connection
  - stamus.scs.probe_api
  - stamus.scs.apply_wait
attributes:
  check_mode:
    support: full
    description: Reads the same, writes nothing, and reports the same RV(ignore:changed) and diff as a real run.
  diff_mode:
    support: full
    description: Before and after of the changed targets only.
options:
  probes:
    description:
      - Probes to set, by name or C(appliance_id); V(all) selects every probe.
    type: list
    elements: str
  templates:
    description:
      - Probe templates to set, by name or id; V(all) selects every template.
    type: list
    elements: str
  state:
    description:
      - V(enabled) or V(disabled) sets the flag. V(inherited), for probes only, clears the probe's own value so that
        its template's applies.
    type: str
    choices: [enabled, disabled, inherited]
    default: enabled
  comment:
    description:
      - Comment recorded with each change in the SCS audit log.
    type: str
  apply:
    description:
      - Push the pending changes to the probes afterwards (SCS "Apply changes"), when this task changed something or
        probes still have pending changes (for example from an earlier run without O(apply)).
      - To push once after several tasks, leave this off and use M(stamus.scs.apply_changes).
    type: bool
    default: false
seealso:
  - module: stamus.scs.probe_info
  - module: stamus.scs.template_info
  - module: stamus.scs.apply_changes
"""

EXAMPLES = r"""
- name: Enable conditional pcap on two templates and apply
  stamus.scs.conditional_pcap:
    templates: [dmz, datacenter]
    state: enabled
    comment: "CHG-1042: keep packets behind alerts"
    apply: true

- name: Let two probes follow their template again
  stamus.scs.conditional_pcap:
    probes: [probe-lab-01, probe-lab-02]
    state: inherited

- name: An SCS where the flag has another field name and templates live elsewhere
  stamus.scs.conditional_pcap:
    templates: all
    api_overrides:
      pcap_field: pcap_on_alert
      template_path: appliances/probe_template/
"""

RETURN = r"""
targets:
  description:
    - Every selected template and probe, with the flag before and after (what SCS holds after the run; in check mode,
      what it would hold).
    - C(written) tells whether SCS accepted a C(PATCH) of this target in this run; C(changed) whether its value changed.
  returned: always
  type: list
  elements: dict
  sample:
    - {kind: template, name: dmz, id: 3, field: conditional_pcap, before: false, after: true, changed: true, written: true}
probes:
  description: Effective value of every probe the changes touch, before and after.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: probe-dmz-01, id: 12, template: 3, before: false, after: true}
field:
  description: The flag's field name per kind and how it was found (V(options) metadata or V(configured)).
  returned: always
  type: dict
  sample: {probe: {name: conditional_pcap, source: options}, template: {name: conditional_pcap, source: options}}
apply:
  description: The apply task, when O(apply=true) pushed changes.
  returned: when O(apply=true) pushed changes
  type: dict
  sample:
    task_pk: 17
    finished: true
    task: {pk: 17, status: finished, success: true, results: [{probe: probe-dmz-01, status: success, message: Configuration applied}]}
"""

from ansible_collections.stamus.scs.plugins.module_utils._conditional_pcap import FlagPlan
from ansible_collections.stamus.scs.plugins.module_utils._connection import ScsModule
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsError
from ansible_collections.stamus.scs.plugins.module_utils._probe_modules import (
    API_OVERRIDES_ARGUMENT_SPEC,
    APPLY_WAIT_ARGUMENT_SPEC,
    probe_manager,
)
from ansible_collections.stamus.scs.plugins.module_utils._probes import apply_changes


def main():
    module = ScsModule(
        argument_spec=dict(
            API_OVERRIDES_ARGUMENT_SPEC,
            **APPLY_WAIT_ARGUMENT_SPEC,
            probes={"type": "list", "elements": "str"},
            templates={"type": "list", "elements": "str"},
            state={"type": "str", "choices": ["enabled", "disabled", "inherited"], "default": "enabled"},
            comment={"type": "str"},
            apply={"type": "bool", "default": False},
        ),
        required_one_of=[("probes", "templates")],
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False}
    try:
        manager = probe_manager(module)
        plan = FlagPlan(manager, params["probes"], params["templates"], params["state"])
        try:
            if plan.changes and not module.check_mode:
                plan.write(params["comment"])
        finally:
            result.update(plan.report(module._diff))  # after a refused write: only what SCS accepted
        if params["apply"] and (plan.changes or plan.pending):
            result["changed"] = True
            if not module.check_mode:
                result["apply"] = apply_changes(manager, params["comment"], params["wait"], params["wait_timeout"])
    except ScsError as err:
        module.fail_scs(err, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
