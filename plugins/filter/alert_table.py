# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: alert_table
short_description: SCS alerts as a compact text table
version_added: 1.1.0
author:
  - Stamus Networks (@StamusNetworks)
description:
  - Formats alerts returned by M(stamus.scs.alert_info) as the lines of a text table, one alert per line, with the
    columns C(time (UTC)), C(probe), C(sid) (signature id), C(signature), C(flow_id), C(5-tuple) (C(TCP 10.0.0.5:51234 ->
    203.0.113.7:443)) and C(pcap) (C(yes) when the alert has a capture file, so that its pcap can be fetched).
  - Alert fields come from traffic. Every cell has its control characters replaced (line breaks by spaces, others by
    visible escapes such as C(\x1b)) and is cut at a word boundary with C(...) when it is wider than its column
    (signatures at 60 characters, probes at 24). The lines are plain strings, not templates.
  - A missing or malformed field shows as C(-).
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
    qfilter: alert.severity:1
    limit: 10
  register: found

- name: Show them as a table
  ansible.builtin.debug:
    msg: "{{ found.alerts | stamus.scs.alert_table }}"
"""

RETURN = r"""
_value:
  description: The header line, then one line per alert, each column padded to the width of its widest cell.
  type: list
  elements: str
  sample:
    - "time (UTC)           probe     sid      signature                            flow_id           5-tuple                                  pcap"
    - "2026-05-02 09:14:03  probe-01  2029743  ET MALWARE Cobalt Strike Beacon...  2077942411095108  TCP 10.0.0.5:51234 -> 203.0.113.7:443  yes"
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.stamus.scs.plugins.module_utils._alert_table import alert_table


def alert_table_filter(alerts):
    if not isinstance(alerts, (list, tuple)):
        raise AnsibleFilterError("stamus.scs.alert_table expects a list of alerts (such as alert_info's alerts), got %s."
                                 % type(alerts).__name__)
    return alert_table(alerts)


class FilterModule:
    def filters(self):
        return {"alert_table": alert_table_filter}
