#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: alert_info
short_description: Find alerts on a Stamus Central Server
version_added: 1.0.0
description:
  - Queries the alerts of a Stamus Central Server (SCS) through its C(alerts_tail) REST endpoint and returns them.
  - Filters by alert id, signature, flow, probe, a Lucene O(qfilter), the kinds of events (O(event_kinds), among alerts,
    Declarations of Compromise and Sightings) and a time window; all filters are combined with C(AND).
  - Older SCS versions return raw Elasticsearch hits (C(_id) beside C(_source)); they are returned flat, like the
    newer ones.
  - Pages through the results and stops with a clear message when a query needs more than the 10,000 results SCS can
    page through.
  - The alerts returned carry C(_id) and C(host), which the pcap modules of this collection need.
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - stamus.scs.connection
  - stamus.scs.read_only
  - stamus.scs.alert_query
options:
  query:
    description:
      - A JMESPath expression applied to the list of alerts; its result is returned as RV(query_result).
      - Requires the Python library C(jmespath) on the host that runs the module.
    type: str
requirements:
  - requests
  - jmespath (for O(query))
seealso:
  - name: SCS conditional PCAP logging
    description: The vendor documentation of conditional pcap and its REST API.
    link: https://docs.stamus-networks.com/
"""

EXAMPLES = r"""
- name: Find the alert of one signature on one flow (the vendor script's query)
  stamus.scs.alert_info:
    scs_url: https://scs.example.net
    scs_token: "{{ vault_scs_token }}"
    signature_id: 2029743
    flow_id: 2077942411095108
  register: found

- name: Set the connection once for every stamus.scs module
  module_defaults:
    group/stamus.scs.scs:
      scs_url: https://scs.example.net
      scs_token: "{{ vault_scs_token }}"
      ca_path: /etc/pki/scs-ca.pem
  block:
    - name: Severity 1 alerts of the last 24 hours on probe-01
      stamus.scs.alert_info:
        probe: probe-01
        qfilter: alert.severity:1
        since: 24h
      register: recent

    - name: Only the ids and probes of HTTP alerts in a fixed window
      stamus.scs.alert_info:
        qfilter: app_proto:http
        from: "2026-05-02T00:00:00Z"
        to: "2026-05-03T00:00:00Z"
        query: "[].{id: _id, probe: host, flow: flow_id}"
      register: http_alerts

- name: Declarations of Compromise and alerts of the last week
  stamus.scs.alert_info:
    event_kinds: [alerts, doc]
    since: 7d
  register: with_doc

- name: Read two alerts again by id, over all of time; ids SCS does not know are listed in not_found
  stamus.scs.alert_info:
    alert_ids:
      - Xk3aQ4kBWK2kIefhuEoN
      - Yq1bR5kBWK2kIefhvFpX
  register: by_id

- name: Show what was found
  ansible.builtin.debug:
    msg: "{{ recent.count }} alerts, first on {{ recent.alerts[0].host | default('none') }}"
"""

RETURN = r"""
alerts:
  description:
    - The matching events, newest first, each as SCS returns it (Suricata EVE plus SCS fields) with C(_id).
    - A Declaration of Compromise has C(event_type) V(stamus) and a C(stamus) object (C(asset), C(threat_name),
      C(kill_chain)...) beside its C(alert); a Sighting has a C(discovery) object. C(capture_file) is absent when
      conditional pcap was off on the probe.
  returned: success
  type: list
  elements: dict
  sample:
    - _id: Xk3aQ4kBWK2kIefhuEoN
      "@timestamp": "2026-05-02T10:00:01.123Z"
      timestamp: "2026-05-02T12:00:01.123456+0200"
      flow_id: 2077942411095108
      event_type: alert
      src_ip: 10.0.0.5
      src_port: 51234
      dest_ip: 203.0.113.7
      dest_port: 80
      proto: TCP
      app_proto: http
      alert:
        action: allowed
        gid: 1
        signature_id: 2029743
        rev: 2
        signature: ET MALWARE Win32/Example CnC Checkin
        category: A Network Trojan was detected
        severity: 1
      capture_file: /var/log/suricata/fpc/log-1777716000-1.pcap
      host: probe-01
count:
  description: How many alerts were returned in RV(alerts).
  returned: success
  type: int
  sample: 1
total:
  description: How many alerts SCS counted for the query (SCS caps this at 10,000).
  returned: success
  type: int
  sample: 1
truncated:
  description: Whether O(limit) left out matching alerts.
  returned: success
  type: bool
  sample: false
not_found:
  description:
    - The ids of O(alert_ids) that SCS returned no alert for (with the other filters and in the time window).
    - Empty without O(alert_ids).
  returned: success
  type: list
  elements: str
  sample: [Yq1bR5kBWK2kIefhvFpX]
dropped_other_probes:
  description:
    - How many alerts SCS returned for O(probe) whose C(host) is not exactly that name; they are not in RV(alerts)
      and a warning names them. Always V(0) without O(probe).
  returned: success
  type: int
  sample: 0
query_result:
  description: The result of the JMESPath O(query) applied to RV(alerts).
  returned: when O(query) is set
  type: raw
  sample:
    - id: Xk3aQ4kBWK2kIefhuEoN
      probe: probe-01
      flow: 2077942411095108
"""

from ansible_collections.stamus.scs.plugins.module_utils._alerts import no_match_warning, query_alerts
from ansible_collections.stamus.scs.plugins.module_utils._argspecs import ALERT_QUERY_SPEC, merged
from ansible_collections.stamus.scs.plugins.module_utils._module_base import ScsModule
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsError
from ansible_collections.stamus.scs.plugins.module_utils._jmespath import compile_query


def main():
    module = ScsModule(
        argument_spec=merged(
            ALERT_QUERY_SPEC,
            query={"type": "str"},
        ),
        mutually_exclusive=[("since", "from")],
        supports_check_mode=True,
    )
    params = module.params
    try:
        query = compile_query(params["query"]) if params["query"] else None
        found = query_alerts(module.client, params)
        for warning in found.warnings:
            module.warn(warning)
        if not found.alerts and params["alert_ids"] is None:  # ids that match nothing are listed in not_found
            module.warn(no_match_warning(params))
        result = {"changed": False, "alerts": found.alerts, "count": len(found.alerts), "total": found.total,
                  "truncated": found.truncated, "not_found": found.not_found, "dropped_other_probes": found.dropped}
        if query is not None:
            result["query_result"] = query.search(found.alerts)
    except ScsError as err:
        module.fail_scs(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
