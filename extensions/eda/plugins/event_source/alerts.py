# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
short_description: Emit an event for each new alert on Stamus Central Server
description:
  - An ansible-rulebook event source that polls the SCS alerts API (C(alerts_tail)) and emits one event per new alert,
    oldest first. The event's key C(stamus_alert) holds the alert document as SCS returns it, with its C(_id), for
    rule conditions such as C(event.stamus_alert.alert.severity == 1).
  - The key C(stamus_ref) holds what a playbook needs to fetch the alert's pcap, with the keys C(alert_id) (the
    alert's C(_id) if it matches C([0-9A-Za-z_-]{1,250})), C(probe) (its C(host) if it is a safe directory name,
    C([0-9A-Za-z_][0-9A-Za-z_.@+-]*) and at most 255 characters) and C(flow_id) (if it is a whole number below
    2^64). When one of them does not pass, the event has no C(stamus_ref) and a warning names the alert.
  - Alert fields come from network traffic (User-Agent, host names, URLs, TLS SNI, DNS names), chosen by whoever
    sends traffic past a probe. ansible-rulebook hands a playbook its event as extra variables, which Ansible renders
    as Jinja templates, so a playbook that reads C(ansible_eda.event.stamus_alert) (even through C(to_json)) runs any
    template an attacker put in a field. Hand playbooks C(stamus_ref) values only and let them read the alert from
    SCS, as the rulebook C(stamus.scs.pcap_on_alert) and the playbook C(stamus.scs.pcap_for_event) do
    (M(stamus.scs.alert_pcap) with O(stamus.scs.alert_pcap#module:alert_ids)).
  - Each poll reads the alerts from the newest C(@timestamp) already read minus O(overlap), oldest first, page by page,
    and skips the C(_id)s it has already emitted. It asks for alerts up to a year past the clock of the host running
    the source, so that the window always ends after it starts (SCS answers a window that does not with the last hour
    instead) and alerts of probes whose clock runs ahead are read too. Alerts that reach the SCS index late, or that move across a page
    boundary while it pages, are therefore not missed, as long as they are late by less than O(overlap).
  - A poll that reaches the 10,000 results SCS can page through emits what it read and polls again at once from there.
  - Results that are not alert objects (for example a C(null) in the page) and alerts without C(_id) or with an
    unreadable C(@timestamp) are skipped with a warning; they never stop the source.
  - Delivery is B(at least once). An alert can be emitted twice when the source restarts without O(state_file), when
    more than O(max_seen) alerts fall in one O(overlap), or when the source stops between queueing events and writing
    O(state_file). M(stamus.scs.alert_pcap) is idempotent, so a repeated alert costs one check of the pcap on disk.
  - Errors. Before the first successful poll, errors that retrying cannot fix stop the source with a message that
    names the fix; bad options, a missing URL or token, a refused token, a missing permission, a rejected filter,
    a URL that is not an SCS. Any other failure (SCS or the network down, HTTP 5xx, timeouts, a TLS failure), and every
    failure after the first successful poll (a token revoked later on included), is logged as a warning and polled
    again after a backoff that starts at O(interval) and doubles up to O(max_backoff). The source never exits on its
    own.
  - The source never logs the token, but ansible-rulebook does when it is a source argument written in the rulebook,
    since C(ansible-rulebook -vv) prints the ruleset with its source arguments. Use the E(SCS_TOKEN) environment
    variable (an EDA credential) instead.
  - Connection options and environment variables are those of the collection's modules.
  - The options are checked at the start with ansible-core's argument spec validator, as a module's are (types,
    choices, lists given as comma-separated strings, environment fallbacks); an unknown option or a value of the wrong
    type stops the source with a message naming the option.
version_added: 1.0.0
author:
  - Stamus Networks (@StamusNetworks)
options:
  scs_url:
    description:
      - Base URL of the Stamus Central Server, for example V(https://scs.example.net).
      - If not set, the value of the E(SCS_URL) environment variable is used. One of them is required.
    type: str
  scs_token:
    description:
      - REST API token of an SCS user. If not set, the value of the E(SCS_TOKEN) environment variable is used. One of
        them is required.
      - Prefer E(SCS_TOKEN): a token written here is printed by C(ansible-rulebook -vv).
    type: str
  validate_certs:
    description:
      - Whether to verify the TLS certificate of SCS. If not set, E(SCS_VALIDATE_CERTS) is used.
    type: bool
    default: true
  ca_path:
    description:
      - PEM bundle of the CA that signed the SCS certificate. If not set, E(SCS_CA_PATH) is used.
      - A path that does not exist or holds no PEM certificate stops the source at its start, naming the file.
    type: path
  timeout:
    description:
      - Deadline, in seconds, of each attempt of a request, the whole answer included (as for the modules).
    type: float
    default: 120
  retries:
    description:
      - Retries of each request on connection errors and HTTP 429, 502, 503 and 504, inside one poll.
    type: int
    default: 3
  tenant:
    description:
      - Tenant id on a multi-tenant SCS.
    type: int
  qfilter:
    description:
      - Lucene query on the alerts, for example V(app_proto:http). ANDed with the other filters.
      - It must be one complete expression, checked at the start as the O(stamus.scs.alert_info#module:qfilter) of the
        modules is.
    type: str
  severity:
    description:
      - Only alerts of these severities (C(alert.severity)), filtered by SCS (the query the source sends), so that the
        alerts of other severities are never read nor emitted; a list of whole numbers such as V([1, 2]), or one
        number, or a comma-separated string.
    type: list
    elements: int
  signature_ids:
    description:
      - Only alerts of these signatures (C(alert.signature_id)); a list or a comma-separated string.
    type: list
    elements: int
  probes:
    description:
      - Only alerts seen by these probes, whose C(host) is exactly one of these names; a list or a comma-separated
        string.
      - The filter is on the exact (keyword) sub-field of C(host) that the C(es_keyword) system setting of SCS names
        (C(host.raw) or C(host.keyword)), read from C(rules/system_settings/) at the first poll (V(raw), with a
        warning, when SCS answers without it). An alert SCS still returns for another probe (on the analysed
        C(host) field, V(probe-01) also matches V(probe-01-dmz)) is left out with a warning that counts them.
    type: list
    elements: str
  event_kinds:
    description:
      - Which kinds of events to emit; any of V(alerts) (Suricata alerts), V(doc) (Declarations of Compromise,
        C(event_type) V(stamus)) and V(sightings) (alerts with a C(discovery) object); a list or a comma-separated
        string.
      - Sent as the C(alert), C(stamus) and C(discovery) flags of C(alerts_tail), each explicitly true or false.
        If not set, V(alerts) only, as SCS returns by default.
      - Declarations of Compromise and Sightings have an C(_id), C(host) and C(flow_id) like alerts, so their events
        carry C(stamus_ref) too and M(stamus.scs.alert_pcap) fetches their pcaps (it looks ids up among every kind).
    type: list
    elements: str
    choices: [alerts, doc, sightings]
  since:
    description:
      - At the first start, also emit the alerts of this last period, for example V(1h) or V(24h).
      - If not set, only the alerts that appear on SCS after the source started are emitted.
      - Ignored when O(state_file) holds a state.
    type: str
  interval:
    description:
      - Seconds between polls.
    type: float
    default: 15
  overlap:
    description:
      - Seconds of the past each poll reads again, to catch alerts indexed late. Should exceed the delay between an
        alert's C(@timestamp) and its arrival in the SCS index.
      - Each poll reads the alerts of this period again, so keep it small on busy servers.
    type: float
    default: 60
  page_size:
    description:
      - Alerts per request.
    type: int
    default: 100
  max_seen:
    description:
      - At most this many alert ids are remembered to skip duplicates; past it the oldest are forgotten.
    type: int
    default: 100000
  max_backoff:
    description:
      - Longest wait, in seconds, between polls after errors.
    type: float
    default: 300
  max_clock_skew:
    description:
      - Seconds an alert's C(@timestamp) may be ahead of the clock of the host running the source (SCS or probe clocks
        a little ahead).
      - An alert dated later than that (a probe with a wrong clock, or a server that returns bogus dates) is
        future-dated. It is still emitted, once, with a warning, but it does not move the source's position (the
        newest C(@timestamp) read, kept in O(state_file)), which therefore never passes this host's clock plus
        O(max_clock_skew). Without this cap a single alert dated 2099 would make every later alert look old, and none
        would be emitted again.
      - Alerts within the allowance move the position up to it, which takes up to this value from the O(overlap)
        that catches alerts indexed late, so keep it well below O(overlap).
      - A saved position past the cap (from an older version of the source, or a host whose clock ran ahead) moves
        back to this host's clock at the start, with a warning.
    type: float
    default: 30
  state_file:
    description:
      - File where the source keeps its position (the newest C(@timestamp) read and the recent ids), written
        atomically after each poll's events are queued. With it a restarted source continues where it stopped,
        without gaps or duplicates.
      - Its directory must exist. Delete the file to start over.
    type: path
notes:
  - Requires the Python library C(requests) and ansible-core where ansible-rulebook runs (a decision environment).
  - The SCS clock and the clock of the host running the source should agree; the first start (without O(since))
    ignores the alerts already on SCS with a C(@timestamp) within O(overlap) of the host's time.
"""

EXAMPLES = r"""
- name: Severity 1 alerts on SCS
  hosts: localhost
  sources:
    - name: SCS alerts
      stamus.scs.alerts:
        severity: [1]
        interval: 10
        state_file: /var/lib/eda/stamus-alerts.json
  rules:
    - name: Fetch the pcap of each alert (the playbook gets the event's stamus_ref and reads the alert from SCS)
      condition: event.stamus_alert.alert.severity == 1 and event.stamus_ref is defined
      action:
        run_playbook:
          name: stamus.scs.pcap_for_event

- name: Declarations of Compromise and alerts of severity 1, each fetched as evidence
  hosts: localhost
  sources:
    - stamus.scs.alerts:
        event_kinds: [alerts, doc]
        severity: [1]
  rules:
    - name: Fetch the pcap of each
      condition: event.stamus_ref is defined
      action:
        run_playbook:
          name: stamus.scs.pcap_for_event

- name: Alerts of two signatures on the DMZ probes, connection from the environment (SCS_URL, SCS_TOKEN, SCS_CA_PATH)
  hosts: localhost
  sources:
    - stamus.scs.alerts:
        signature_ids: [2029743, 2035465]
        probes: [dmz-01, dmz-02]
        qfilter: "app_proto:http"
        since: 1h
  rules:
    - name: Show them
      condition: event.stamus_alert is defined
      action:
        print_event:
          pretty: true
"""

import asyncio
import os
import sys


def _collections_dir(plugin_file):
    """The directory above ``ansible_collections/stamus/scs`` that holds this file, or None.

    ansible-rulebook runs source plugins by path (runpy), outside of Ansible's collection loader, so the collection's
    own Python packages are only importable once that directory is on sys.path.
    """
    for path in (os.path.abspath(plugin_file), os.path.realpath(plugin_file)):
        root = path
        for _level in range(5):  # event_source, plugins, eda, extensions, then the collection root
            root = os.path.dirname(root)
        if root.split(os.sep)[-3:] == ["ansible_collections", "stamus", "scs"]:
            return os.path.dirname(os.path.dirname(os.path.dirname(root)))
    return None


_COLLECTIONS_DIR = _collections_dir(__file__)
if _COLLECTIONS_DIR and _COLLECTIONS_DIR not in sys.path:
    sys.path.insert(0, _COLLECTIONS_DIR)

try:
    from ansible_collections.stamus.scs.plugins.module_utils._alert_source import AlertSource
except ImportError as _err:
    raise ImportError(
        "stamus.scs.alerts cannot import the stamus.scs collection (%s). Install the collection (ansible-galaxy "
        "collection install) so that this file sits under .../ansible_collections/stamus/scs/, and install the "
        "Python libraries requests and ansible-core where ansible-rulebook runs." % _err) from None


async def main(queue, args):
    """Poll SCS forever; put one ``{"stamus_alert": alert, "stamus_ref": {...}}`` event per new alert on ``queue``."""
    source = AlertSource.from_args(args)
    while True:
        events, delay = await asyncio.to_thread(source.step)
        for event in events:
            await queue.put(event)
        await asyncio.to_thread(source.commit)
        if delay:
            await asyncio.sleep(delay)


if __name__ == "__main__":
    # Run alone to see the events: SCS_URL=... SCS_TOKEN=... python alerts.py
    import logging

    class _PrintQueue:
        async def put(self, event):
            print(event, flush=True)

    logging.basicConfig(level=logging.INFO)
    asyncio.run(main(_PrintQueue(), {}))
