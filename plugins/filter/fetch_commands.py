# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: fetch_commands
short_description: The fetch_alert_pcap command lines for SCS alerts
version_added: 1.1.0
author:
  - Stamus Networks (@StamusNetworks)
description:
  - For alerts returned by M(stamus.scs.alert_info), the C(ansible-playbook stamus.scs.fetch_alert_pcap) command line
    that fetches the pcap of each, ready to copy, one per flow, in the order of the alerts (newest first from
    M(stamus.scs.alert_info)).
  - Only alerts with a capture file get one, and only when their signature id and flow id are whole numbers, their id
    is an SCS id and their probe name a safe directory name. These values come from traffic; the checks make sure that
    what is copied to a shell holds no shell syntax.
positional: _input
options:
  _input:
    description: The alerts, for example RV(stamus.scs.alert_info#module:alerts).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Find the alerts
  stamus.scs.alert_info:
    signature_id: 2029743
    limit: 5
  register: found

- name: Show how to fetch their pcaps
  ansible.builtin.debug:
    msg: "{{ found.alerts | stamus.scs.fetch_commands }}"
"""

RETURN = r"""
_value:
  description: The command lines, one per flow of the alerts that have a capture file.
  type: list
  elements: str
  sample:
    - ansible-playbook stamus.scs.fetch_alert_pcap -e signature_id=2029743 -e flow_id=2077942411095108 -e probe=probe-01
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.stamus.scs.plugins.module_utils._alert_table import fetch_commands


def fetch_commands_filter(alerts):
    if not isinstance(alerts, (list, tuple)):
        raise AnsibleFilterError("stamus.scs.fetch_commands expects a list of alerts (such as alert_info's alerts), "
                                 "got %s." % type(alerts).__name__)
    return fetch_commands(alerts)


class FilterModule:
    def filters(self):
        return {"fetch_commands": fetch_commands_filter}
