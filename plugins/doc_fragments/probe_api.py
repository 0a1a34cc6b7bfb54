# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Probe Management is partly undocumented: the names the modules assume, and how to override them.
    DOCUMENTATION = r"""
options:
  api_overrides:
    description:
      - Replaces Probe Management paths and field names that the collection assumes, without editing code.
        Set it once for every module with C(module_defaults) and the group C(group/stamus.scs.scs).
      - Keys and defaults seen in public SCS code are C(probe_path=appliances/probe/),
        C(legacy_probe_path=appliances/appliance/), C(probe_key=appliance_id), C(pcap_label=Activate pcap extraction
        on alerts), C(apply_path=appliances/probe/update_push_all/) and C(apply_body={}).
      - The assumed keys and defaults are C(pcap_field=conditional_pcap), C(template_path=appliances/template/),
        C(template_key=pk), C(probe_template_field=template), C(pending_field=pending_changes),
        C(comment_field=comment) and C(task_path=appliances/task/{pk}/).
      - C(apply_path) is the apply call, which both SCS web interfaces label "Update / Push ruleset". It also builds
        and pushes the ruleset, and may fetch the rule sources. Without an override it is the probe collection
        followed by C(push_action=update_push_all/), so an SCS with the legacy collection gets
        C(appliances/appliance/update_push_all/). C(push_action) is kept for older playbooks and cannot be set
        together with C(apply_path).
      - >-
        C(apply_body) is a JSON object sent as the body of the apply call. The module's C(comment) is added under
        C(comment_field). With neither, the call has no body, as in the SCS web interfaces. An apply call may answer
        C({"task_pk": N}), a task that is followed at C(task_path), or C({"update_push_all": "ok"}), the synchronous
        answer of open-source Scirius at C(apply_path=suricata/update_push_all/).
      - The pcap flag is found by its label in the C(OPTIONS) metadata of a probe and a template, once per run.
        C(pcap_field) is only used when the metadata does not show it, for example to a token without write
        permission, or when it is set here.
      - Without an override, the probe collection falls back to the legacy C(appliances/appliance/) of older SCS.
    type: dict
notes:
  - >-
    Only part of the SCS Probe Management API is public. To confirm the assumed names on your SCS, call each path
    directly (C(GET /rest/) lists only SCS's router viewsets, not every route), look at
    C(OPTIONS /rest/appliances/probe/<id>/) (field names and labels), and at the calls that the Probe Management pages
    make in the browser's network tab.
"""
