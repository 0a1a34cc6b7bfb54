#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: probe_info
short_description: List SCS probes with their conditional pcap state
version_added: 1.0.0
description:
  - Lists the probes of SCS Probe Management with their template, their own "Activate pcap extraction on alerts"
    value, the effective value (their own, or their template's when they inherit), and whether changes are pending.
  - Reads with two list calls whatever the size of the fleet.
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - stamus.scs.connection
  - stamus.scs.read_only
  - stamus.scs.probe_api
  - stamus.scs.name_filter
seealso:
  - module: stamus.scs.template_info
  - module: stamus.scs.conditional_pcap
"""

EXAMPLES = r"""
- name: Probes of the DMZ with pcap extraction off
  stamus.scs.probe_info:
    pattern: "probe-dmz-*"
  register: dmz

- name: Show them
  ansible.builtin.debug:
    msg: "{{ dmz.probes | rejectattr('conditional_pcap_effective') | map(attribute='name') | list }}"
"""

RETURN = r"""
probes:
  description: The matching probes.
  returned: always
  type: list
  elements: dict
  sample:
    - name: probe-dmz-01
      appliance_id: 12
      address: 10.20.0.12
      descr: DMZ tap
      template: dmz
      template_id: 3
      conditional_pcap: null
      conditional_pcap_effective: true
      pending_changes: false
      last_seen: "2026-11-27T10:00:00Z"
      suri_running: true
count:
  description: How many probes are in RV(probes).
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.stamus.scs.plugins.module_utils._probe_modules import run_info_module


def main():
    run_info_module("probe")


if __name__ == "__main__":
    main()
