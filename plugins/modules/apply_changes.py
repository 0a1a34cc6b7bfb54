#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: apply_changes
short_description: Push pending Probe Management changes from SCS to the probes (SCS "Update / Push ruleset")
version_added: 1.0.0
description:
  - Pushes the pending probe configuration with the call behind the SCS button labelled "Update / Push ruleset"
    (C(POST /rest/appliances/probe/update_push_all/)) and, with O(wait), follows the task it starts until every
    probe has a final result.
  - B(This call does more than apply probe settings.) It is SCS's ruleset update and push, so it also builds the
    ruleset and pushes it to every probe, and it may first fetch the rule sources. No public SCS code shows another
    call for applying pending probe settings. To use another call, set O(api_overrides) keys C(apply_path) and
    C(apply_body); to apply yourself, use the web interface instead of this module.
  - By default nothing is pushed when no probe has pending changes (RV(ignore:changed=false)).
  - SCS runs the push as a task. When an attempt fails, SCS marks the task finished and runs it again about 3 minutes
    later, up to 3 retries. This module reports that as RV(apply.state=retrying) and keeps waiting within
    O(wait_timeout). Each probe is judged by its latest attempt only; earlier failed attempts are reported in its
    C(history) and are not failures.
  - The task fails the module when it is cancelled (revoked) in SCS, when a probe's latest attempt failed or was
    unreachable, or when it is still running or retrying at O(wait_timeout). A probe that applied with a warning
    succeeds, and its message is shown as a warning.
  - >-
    An SCS that answers in the open-source Scirius way (C({"update_push_all": "ok"}), synchronous) is accepted too.
    There is then no task and no per-probe result. A list of messages instead of C(ok), such as
    C(Suricata restart already asked), is applied with a warning.
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - stamus.scs.connection
  - stamus.scs.probe_api
  - stamus.scs.apply_wait
attributes:
  check_mode:
    support: full
    description: Lists the probes with pending changes and pushes nothing (RV(apply.state=pending)).
  diff_mode:
    support: none
    description: The push changes the probes, not SCS objects.
options:
  force:
    description:
      - Push even when no probe reports pending changes.
    type: bool
    default: false
  comment:
    description:
      - Comment recorded in the SCS audit log, sent as the C(comment) field of the apply call.
    type: str
notes:
  - To leave changes pending instead, do not run this module; M(stamus.scs.conditional_pcap) with O(stamus.scs.conditional_pcap#module:apply=false)
    (its default) and the role C(stamus.scs.conditional_pcap) with C(conditional_pcap_apply=false) report the probes
    left pending. Apply them later with this module or in the SCS web interface.
seealso:
  - module: stamus.scs.conditional_pcap
"""

EXAMPLES = r"""
- name: Change several templates, then apply once
  block:
    - name: Enable on the DMZ template
      stamus.scs.conditional_pcap:
        templates: [dmz]

    - name: Disable on the lab template
      stamus.scs.conditional_pcap:
        templates: [lab]
        state: disabled

    - name: Apply the pending changes (this also builds and pushes the ruleset) and wait for every probe
      stamus.scs.apply_changes:
        comment: "CHG-1042"
        wait_timeout: 900  # room for SCS's retries, about 3 minutes apart

- name: Apply on a Scirius-style server whose push is synchronous
  stamus.scs.apply_changes:
    api_overrides:
      apply_path: suricata/update_push_all/
"""

RETURN = r"""
pending:
  description: Names of the probes that had pending changes.
  returned: always
  type: list
  elements: str
  sample: [probe-dmz-01, probe-dmz-02]
apply:
  description: What the apply did, when there was something to push (or O(force)).
  returned: when probes had pending changes or O(force=true)
  type: dict
  contains:
    state:
      description:
        - V(applied), V(applied_with_warning), V(retrying), V(cancelled), V(failed) or V(in_progress) for a task
          that was followed, V(started) with O(wait=false), V(pending) in check mode.
        - The module fails unless it is V(applied), V(applied_with_warning), V(started) or V(pending).
      type: str
      sample: applied
    msg:
      description: The outcome in one sentence, with what to do next.
      type: str
      sample: "Apply task 17: applied on 3 probe(s) after 2 attempt(s). Earlier attempts failed for probe-dmz-02 (attempt 2); their latest attempt counts."
    path:
      description: The apply call, relative to C(/rest/).
      type: str
      sample: appliances/probe/update_push_all/
    task_pk:
      description: The task SCS started; null when SCS applied at once (a synchronous answer) or nothing was pushed.
      type: raw
      sample: 17
    finished:
      description: Whether the task reached a final state (applied, applied with warning, failed or cancelled).
      type: bool
      sample: true
    attempts:
      description: Attempts SCS made (the first run and its retries, at most 4).
      type: int
      sample: 2
    next_attempt:
      description: When SCS runs the next attempt (the task's C(eta)), while RV(apply.state=retrying).
      type: str
      sample: "2026-05-02T12:03:00.412000Z"
    probes:
      description:
        - Each probe's result, judged by its latest attempt.
        - C(state) is V(applied), V(applied_with_warning), V(retrying) (its attempt failed and SCS retries the task),
          V(cancelled) (it failed and the task was revoked), V(failed) or V(unreachable).
        - C(status) and C(message) are SCS's for the latest attempt, C(retry_no) its number (0 for the first run).
        - C(history) lists the earlier attempts (C(retry_no), C(status), C(message)); they are not failures.
      type: list
      elements: dict
      sample:
        - {probe: probe-dmz-01, state: applied, status: success, message: Configuration applied, retry_no: 1, history: []}
        - probe: probe-dmz-02
          state: applied
          status: success
          message: Configuration applied
          retry_no: 1
          history: [{retry_no: 0, status: unreachable, message: "probe-dmz-02: connection timed out"}]
    warnings:
      description: Probes applied with a warning, and the messages of a synchronous answer other than C(ok); each is also a module warning.
      type: list
      elements: str
      sample: ["probe-dmz-03 applied with a warning: Suricata restart already asked."]
    pending:
      description: In check mode, the probes that stay pending.
      type: list
      elements: str
      returned: in check mode
      sample: [probe-dmz-01]
    task:
      description: The task as SCS last returned it (control characters escaped), null when no task was followed.
      type: dict
      sample:
        pk: 17
        status: finished
        success: true
        retry: 2
        eta: null
        results:
          - {probe: probe-dmz-02, status: unreachable, message: "probe-dmz-02: connection timed out", retry_no: 0}
          - {probe: probe-dmz-02, status: success, message: Configuration applied, retry_no: 1}
"""

from ansible_collections.stamus.scs.plugins.module_utils._argspecs import APPLY_WAIT_SPEC, PROBE_API_SPEC, merged
from ansible_collections.stamus.scs.plugins.module_utils._module_base import ScsModule
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsError
from ansible_collections.stamus.scs.plugins.module_utils._probe_modules import apply_step, probe_manager


def main():
    module = ScsModule(
        argument_spec=merged(
            PROBE_API_SPEC,
            APPLY_WAIT_SPEC,
            force={"type": "bool", "default": False},
            comment={"type": "str"},
        ),
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False}
    try:
        manager = probe_manager(module)
        pending_field = manager.api["pending_field"]
        result["pending"] = [probe.get("name") for probe in manager.list_probes() if probe.get(pending_field)]
        if result["pending"] or params["force"]:
            result["changed"] = True
            result["apply"] = apply_step(module, manager, result["pending"])
    except ScsError as err:
        module.fail_scs(err, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
