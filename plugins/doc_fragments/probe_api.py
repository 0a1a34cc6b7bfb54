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
      - Keys and defaults are C(probe_path=appliances/probe/), C(legacy_probe_path=appliances/appliance/),
        C(probe_key=appliance_id), C(push_action=update_push_all/) and C(pcap_label=Activate pcap extraction on alerts)
        (public), then the assumed C(pcap_field=conditional_pcap), C(template_path=appliances/template/),
        C(template_key=pk), C(probe_template_field=template), C(pending_field=pending_changes),
        C(comment_field=comment) and C(task_path=appliances/task/{pk}/).
      - The pcap flag is found by its label in the C(OPTIONS) metadata of a probe and a template, once per run.
        C(pcap_field) is only used when the metadata does not show it, for example to a token without write
        permission, or when it is set here.
      - Without an override, the probe collection falls back to the legacy C(appliances/appliance/) of older SCS.
    type: dict
notes:
  - >-
    Only part of the SCS Probe Management API is public. To confirm the assumed names on your SCS, look at
    C(GET /rest/) (the route map), C(OPTIONS /rest/appliances/probe/<id>/) (field names and labels), and the call
    that the web interface's "Apply changes" button makes in the browser's network tab.
"""
