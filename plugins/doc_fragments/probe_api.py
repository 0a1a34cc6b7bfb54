# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Probe Management is partly undocumented: the names the modules assume, and how to override them (mirrored by
    # PROBE_API_SPEC in module_utils/_argspecs.py, defaults in module_utils/_probe_api.py).
    DOCUMENTATION = r"""
options:
  api_overrides:
    description:
      - Replaces Probe Management paths and field names that the collection assumes, without editing code.
        Set it once for every module with C(module_defaults) and the group C(group/stamus.scs.scs).
      - Each key is checked by Ansible (an unknown key fails the task, listing the valid ones). A key left out keeps
        its default. Paths are relative to C(/rest/); a trailing C(/) is added when missing.
      - The pcap flag is found by its label in the C(OPTIONS) metadata of a probe and a template, once per run.
        O(api_overrides.pcap_field) is only used when the metadata does not show it, for example to a token without
        write permission, or when it is set here.
      - Without an override, the probe collection falls back to the legacy C(appliances/appliance/) of older SCS.
    type: dict
    suboptions:
      probe_path:
        description: The probe collection (seen in public SCS code). Default V(appliances/probe/).
        type: str
      legacy_probe_path:
        description: The probe collection of older SCS, tried when O(api_overrides.probe_path) is not found (assumed).
          Default V(appliances/appliance/).
        type: str
      probe_key:
        description: The field that identifies a probe in its detail path (seen in public SCS code).
          Default V(appliance_id).
        type: str
      apply_path:
        description:
          - The apply call, which both SCS web interfaces label "Update / Push ruleset". It also builds and pushes the
            ruleset, and may fetch the rule sources. Default V(appliances/probe/update_push_all/).
          - Without it, the probe collection followed by O(api_overrides.push_action), so an SCS with the legacy
            collection gets C(appliances/appliance/update_push_all/).
          - Open-source Scirius applies at V(suricata/update_push_all/).
        type: str
      push_action:
        description:
          - The end of the apply call after the probe collection, kept for older playbooks. Default
            V(update_push_all/).
          - Mutually exclusive with O(api_overrides.apply_path).
        type: str
      apply_body:
        description:
          - >-
            A JSON object sent as the body of the apply call. The module's C(comment) is added under
            O(api_overrides.comment_field). With neither, the call has no body, as in the SCS web interfaces.
            Default V({}).
          - >-
            An apply call may answer C({"task_pk": N}), a task that is followed at O(api_overrides.task_path), or
            C({"update_push_all": "ok"}), the synchronous answer of open-source Scirius.
        type: dict
      pcap_label:
        description: The label of the pcap flag in the C(OPTIONS) metadata (seen in the SCS web interface).
          Default V(Activate pcap extraction on alerts).
        type: str
      pcap_field:
        description: The pcap flag's field name when the metadata does not show it (assumed).
          Default V(conditional_pcap).
        type: str
      template_path:
        description: The probe template collection (assumed). Default V(appliances/template/).
        type: str
      template_key:
        description: The field that identifies a template in its detail path (assumed). Default V(pk).
        type: str
      probe_template_field:
        description: The probe's field that holds its template's key (assumed). Default V(template).
        type: str
      pending_field:
        description: The probe's field that tells it has changes not yet applied (assumed). Default
          V(pending_changes).
        type: str
      comment_field:
        description: The field of a change or apply body that holds the comment (assumed). Default V(comment).
        type: str
      task_path:
        description: The apply task, with C({pk}) where its id goes (assumed). Default V(appliances/task/{pk}/).
        type: str
      write_permission:
        description: The SCS permission named in messages when a change is refused (assumed). Default
          V(rules.configuration_edit).
        type: str
      push_permission:
        description: The SCS permission named in messages when the apply call is refused (seen in public SCS code).
          Default V(rules.ruleset_update_push).
        type: str
notes:
  - >-
    Only part of the SCS Probe Management API is public. To confirm the assumed names on your SCS, call each path
    directly (C(GET /rest/) lists only SCS's router viewsets, not every route), look at
    C(OPTIONS /rest/appliances/probe/<id>/) (field names and labels), and at the calls that the Probe Management pages
    make in the browser's network tab.
"""
