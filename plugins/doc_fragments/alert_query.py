# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # How the modules that select alerts on SCS (alert_info, alert_pcap) describe the query.
    DOCUMENTATION = r"""
options:
  alert_ids:
    description:
      - Only the alerts of these ids (C(_id)), each 1 to 250 letters, digits, C(_) and C(-) (other values are refused
        before any request). An empty list selects no alert.
      - Without O(since) and O(from), ids are looked up over all of time, not SCS's default 30 days.
      - Long lists are looked up 50 ids per request. The ids that SCS returns no alert for are returned as
        RV(not_found).
    type: list
    elements: str
  signature_id:
    description:
      - Only alerts of this Suricata signature id (C(alert.signature_id)), or of any of these ids when a list is given.
    type: list
    elements: int
    aliases: [signature_ids]
  severity:
    description:
      - Only alerts of this severity (C(alert.severity), 1 is the highest), or of any of these when a list is given.
    type: list
    elements: int
  flow_id:
    description:
      - Only alerts of this Suricata flow id.
    type: int
  probe:
    description:
      - Only alerts seen by this probe, whose C(host) field is exactly this name. The name is quoted, so any character
        is safe.
      - The filter is on the exact (keyword) sub-field of C(host), C(host.raw) or C(host.keyword) as the C(es_keyword)
        system setting of SCS names it (read from C(rules/system_settings/) once per task; V(raw) when it cannot be
        read), as the SCS web interface filters probes. The bare C(host) field is analysed text, on which
        V(probe-01) would also match V(probe-01-dmz).
      - Any alert SCS returns whose C(host) is not exactly this name is left out, counted in
        RV(dropped_other_probes) and named in a warning.
    type: str
  event_kinds:
    description:
      - Which kinds of events to read, as SCS keeps them apart; any of V(alerts) (Suricata alerts), V(doc)
        (Declarations of Compromise, C(event_type) V(stamus) with a C(stamus) object) and V(sightings) (alerts with a
        C(discovery) object).
      - Sent as the C(alert), C(stamus) and C(discovery) flags of C(alerts_tail), each explicitly true or false.
      - If not set, V(alerts) only, which is what SCS returns by default; with O(alert_ids), every kind, since an id
        names one event whatever its kind.
      - Declarations of Compromise and Sightings carry the flow id, 5-tuple and C(capture_file) of the traffic behind
        them when Suricata recorded one, so their pcaps can be fetched like those of alerts.
    type: list
    elements: str
    choices: [alerts, doc, sightings]
  qfilter:
    description:
      - A Lucene query string in SCS syntax, for example V(alert.severity:1 AND app_proto:http).
      - It is combined with the other filters with C(AND). Quote values that contain Lucene special characters.
      - It must be one complete expression, checked before any call with the grammar of the Elasticsearch
        query_string parser (quoted phrases, C(/regex/), ranges, escapes, groups), so that it can never turn the other
        filters into alternatives. What cannot be proved balanced, or what Lucene dialects read differently, is
        refused with the position and the fix, for example a C(") glued to a word, C(\\) inside a C(/regex/), or a
        range bound with spaces (quote it). At most 8192 characters and 64 nested groups.
    type: str
  since:
    description:
      - Relative start of the time window, as a number and a unit among V(s), V(m), V(h), V(d) and V(w), for example
        V(24h). Mutually exclusive with O(from).
      - Without O(since) and O(from), SCS uses its default window, the last 30 days (all of time with O(alert_ids)).
      - A window that does not start before it ends (or, without a start, a O(to) more than 30 days ago) is refused
        before any call, since SCS would silently answer with the last hour instead.
    type: str
  from:
    description:
      - Absolute start of the time window on C(@timestamp), as ISO 8601 such as V(2026-05-02T10:00:00Z) (no zone means UTC)
        or epoch seconds (values above 10^11 are taken as epoch milliseconds).
    type: str
  to:
    description:
      - Absolute end of the time window, in the same formats as O(from). Defaults to now.
    type: str
  limit:
    description:
      - Return at most this many alerts, newest first (with O(alert_ids), the newest of the alerts found).
      - Without a limit, every matching alert is returned. SCS can page through the first 10,000 results of a query;
        M(stamus.scs.alert_info) fails with a message asking to narrow a query that matches more, and so does a
        O(limit) above 10,000 that a query exceeds; M(stamus.scs.alert_pcap) without a limit reads past that window.
    type: int
  page_size:
    description:
      - How many alerts to ask for per request. Larger pages mean fewer requests.
    type: int
    default: 100
notes:
  - >-
    A query that matches no alert is not an error: the task succeeds with a warning that repeats the filters and the time
    window, so that a typo or a window too short shows. O(alert_ids) that match nothing are listed in C(not_found)
    instead.
"""
