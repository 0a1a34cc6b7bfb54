#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: template_info
short_description: List SCS probe templates with their conditional pcap state and probes
version_added: 1.0.0
description:
  - Lists the probe templates of SCS Probe Management with their "Activate pcap extraction on alerts" value and the
    probes that use each.
  - The template endpoints are not public; see O(api_overrides).
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - stamus.scs.connection
  - stamus.scs.read_only
  - stamus.scs.probe_api
  - stamus.scs.name_filter
seealso:
  - module: stamus.scs.probe_info
  - module: stamus.scs.conditional_pcap
"""

EXAMPLES = r"""
- name: Templates with pcap extraction on
  stamus.scs.template_info:
  register: templates

- name: Show them
  ansible.builtin.debug:
    msg: "{{ templates.templates | selectattr('conditional_pcap') | map(attribute='name') | list }}"
"""

RETURN = r"""
templates:
  description: The matching templates.
  returned: always
  type: list
  elements: dict
  sample:
    - id: 3
      name: dmz
      descr: DMZ probes
      conditional_pcap: true
      probes: [probe-dmz-01, probe-dmz-02]
      probe_count: 2
count:
  description: How many templates are in RV(templates).
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.stamus.scs.plugins.module_utils._probe_modules import run_info_module


def main():
    run_info_module("template")


if __name__ == "__main__":
    main()
