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
  - The apply (O(apply=true)) is the SCS call labelled "Update / Push ruleset" in the web interface, as in
    M(stamus.scs.apply_changes). It also builds the ruleset and pushes it to every probe, and it may fetch the rule
    sources first. With O(apply=false), the default, nothing is pushed and RV(apply) lists the probes left pending.
  - Reads the current state with two list calls (probes, templates), writes only what differs (one C(PATCH) per
    changed target) and reports C(changed) only when something was written.
  - A refused C(PATCH) (for example HTTP 403 for a token whose user may not change Probe Management) fails the task at
    that target; the targets after it are not sent. RV(targets) and RV(probe_states) then report only what SCS accepted
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
      - Push the pending changes to the probes afterwards, when this task changed something or probes still have
        pending changes (for example from an earlier run without O(apply)). This is SCS's "Update / Push ruleset",
        which also builds and pushes the ruleset, and may fetch the rule sources. Its path and body are the
        O(api_overrides) keys C(apply_path) and C(apply_body). The task is followed as
        M(stamus.scs.apply_changes) follows it (retries, cancellation, each probe's latest attempt).
      - With V(false), nothing is pushed. RV(apply.state) is then V(pending) and RV(apply.pending) lists the probes
        with pending changes. Apply them in the SCS web interface or with M(stamus.scs.apply_changes). To push once
        after several tasks, leave this off and use M(stamus.scs.apply_changes).
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
probe_states:
  description:
    - Effective value of every probe the changes touch, before and after (its own value, or its template's when it
      inherits). C(template) is the key of the probe's template.
    - Named C(probes) in version 1.0.0, which is also the name of the O(probes) option.
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
  description:
    - With O(apply=true), what the apply did, as M(stamus.scs.apply_changes) returns it. With O(apply=false) or in
      check mode, C(state=pending), the probes left pending and how to apply them.
  returned: when probes have pending changes, pushed or left pending
  type: dict
  contains:
    state:
      description:
        - V(applied), V(applied_with_warning), V(retrying), V(cancelled), V(failed) or V(in_progress) for a task
          that was followed, V(started) with O(wait=false), V(pending) when nothing was pushed.
        - The module fails unless it is V(applied), V(applied_with_warning), V(started) or V(pending).
      type: str
      sample: pending
    msg:
      description: The outcome in one sentence, with what to do next.
      type: str
      sample: >-
        Not applied (apply=false): 2 probe(s) probe-dmz-01, probe-dmz-02 pending in SCS. Apply them in the SCS web
        interface ("Update / Push ruleset", which also builds and pushes the ruleset) or stamus.scs.apply_changes.
    pending:
      description: The probes with pending changes in SCS, when nothing was pushed.
      type: list
      elements: str
      returned: when nothing was pushed
      sample: [probe-dmz-01, probe-dmz-02]
    path:
      description: The apply call, relative to C(/rest/), when it was made.
      type: str
      sample: appliances/probe/update_push_all/
    task_pk:
      description: The task SCS started; null when nothing was pushed or SCS applied at once.
      type: raw
      sample: 17
    finished:
      description: Whether the task reached a final state.
      type: bool
      sample: true
    attempts:
      description: Attempts SCS made (the first run and its retries, at most 4).
      type: int
      sample: 1
    next_attempt:
      description: When SCS runs the next attempt, while RV(apply.state=retrying).
      type: str
      sample: "2026-05-02T12:03:00.412000Z"
    probes:
      description:
        - Each probe's result, judged by its latest attempt; C(state) is V(applied), V(applied_with_warning),
          V(retrying), V(cancelled), V(failed) or V(unreachable). C(history) holds the earlier attempts, which are
          not failures. See RV(stamus.scs.apply_changes#module:apply.probes).
      type: list
      elements: dict
      sample:
        - {probe: probe-dmz-01, state: applied, status: success, message: Configuration applied, retry_no: 0, history: []}
    warnings:
      description: Probes applied with a warning, also shown as module warnings.
      type: list
      elements: str
      sample: []
    task:
      description: The task as SCS last returned it (control characters escaped).
      type: dict
      sample:
        pk: 17
        status: finished
        success: true
        retry: 1
        eta: null
        results: [{probe: probe-dmz-01, status: success, message: Configuration applied, retry_no: 0}]
"""

from ansible_collections.stamus.scs.plugins.module_utils._apply import pending_result
from ansible_collections.stamus.scs.plugins.module_utils._conditional_pcap import FlagPlan
from ansible_collections.stamus.scs.plugins.module_utils._argspecs import APPLY_WAIT_SPEC, PROBE_API_SPEC, merged
from ansible_collections.stamus.scs.plugins.module_utils._module_base import ScsModule
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsError
from ansible_collections.stamus.scs.plugins.module_utils._probe_modules import apply_step, probe_manager


def main():
    module = ScsModule(
        argument_spec=merged(
            PROBE_API_SPEC,
            APPLY_WAIT_SPEC,
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
        plan = FlagPlan.read(manager, params["probes"], params["templates"], params["state"])
        try:
            if plan.changes and not module.check_mode:
                plan.write(params["comment"])
        finally:
            result.update(plan.report(module._diff))  # after a refused write: only what SCS accepted
        if plan.changes or plan.pending:
            if not params["apply"]:
                result["apply"] = pending_result(plan.pending_after(written=not module.check_mode), "apply=false")
            else:
                result["changed"] = True
                result["apply"] = apply_step(module, manager, plan.pending_after(written=False))
    except ScsError as err:
        module.fail_scs(err, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
