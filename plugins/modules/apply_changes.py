#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: apply_changes
short_description: Push pending Probe Management changes from SCS to the probes
version_added: 1.0.0
description:
  - The SCS "Apply changes" action. Pushes the pending configuration to the probes and, with O(wait), follows
    the task until it finishes and reports each probe's result.
  - By default nothing is pushed when no probe has pending changes (RV(ignore:changed=false)).
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - stamus.scs.connection
  - stamus.scs.probe_api
  - stamus.scs.apply_wait
attributes:
  check_mode:
    support: full
    description: Lists the probes with pending changes and pushes nothing.
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
      - Comment recorded in the SCS audit log.
    type: str
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

    - name: Apply the pending changes and wait for every probe
      stamus.scs.apply_changes:
        comment: "CHG-1042"
        wait_timeout: 600
"""

RETURN = r"""
pending:
  description: Names of the probes that had pending changes.
  returned: always
  type: list
  elements: str
  sample: [probe-dmz-01, probe-dmz-02]
apply:
  description: The apply task; with O(wait), its final state and each probe's result.
  returned: when changes were pushed
  type: dict
  sample:
    task_pk: 17
    finished: true
    task: {pk: 17, status: finished, success: true, results: [{probe: probe-dmz-01, status: success, message: Configuration applied}]}
"""

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
            if not module.check_mode:
                result["apply"] = apply_changes(manager, params["comment"], params["wait"], params["wait_timeout"])
    except ScsError as err:
        module.fail_scs(err, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
