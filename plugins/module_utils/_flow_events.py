# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A flow's events (events_from_flow_id), saved as received beside its pcap as ``<flow_id>.events.json``.

SCS answers a JSON object keyed by the title-cased ``event_type`` (``Alert``, ``Flow``, ``Http``, ``Fileinfo``, ...),
each a list of EVE events, at most MAX_EVENTS of them, newest first (scirius rules/es_graphs.py ESEventsFromFlowID).
The events are untrusted data: they are stored re-serialised (sorted keys, indent 2), never interpreted but for the
fileinfo events _filestore.py reads.
"""

from __future__ import annotations

import datetime
import json
import os
import re

from ansible_collections.stamus.scs.plugins.module_utils._alert_api import FLOW_ID_FIELD, TIMESTAMP_FIELD
from ansible_collections.stamus.scs.plugins.module_utils._alerts import probe_clause
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsLimitError, ScsProtocolError
from ansible_collections.stamus.scs.plugins.module_utils._files import atomic_write_chunks

EVENTS_PATH = "rules/es/events_from_flow_id/"
# SCS returns at most this many events (its query's size); an answer that holds as many may be cut.
MAX_EVENTS = 100
# The largest events answer read, once decoded: 100 events are normally well under 1 MiB.
MAX_EVENTS_BYTES = 16 << 20
# The events are looked for this long before and after the alert the flow was extracted with (SCS's date window;
# without one it reads only the last 30 days).
WINDOW_MS = 24 * 3600 * 1000
EVENT_TYPE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # whole string: fullmatch


def _alert_ms(alert):
    text = str(alert.get(TIMESTAMP_FIELD) or alert.get("timestamp") or "")
    try:
        stamp = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return int(stamp.timestamp() * 1000)


def events_params(flow_id, probe, alert, keyword):
    """The query of a flow's events: its flow_id on its probe, around the time of ``alert``."""
    params = {"qfilter": "%s:%d AND %s" % (FLOW_ID_FIELD, flow_id, probe_clause([probe], keyword))}
    when = _alert_ms(alert)
    if when is not None:
        params.update(from_date=when - WINDOW_MS, to_date=when + WINDOW_MS)
    return params


def fetch_events(client, flow_id, probe, alert, keyword):
    """The flow's events as SCS sends them: a dict of event type -> list of events (checked, not interpreted)."""
    call = client.describe("GET", EVENTS_PATH)
    try:
        body = client.get_json(EVENTS_PATH, events_params(flow_id, probe, alert, keyword), max_bytes=MAX_EVENTS_BYTES)
    except ScsLimitError:
        raise ScsLimitError("%s: the events of flow %d are larger than %d MiB, the most the collection reads; they were "
                            "not kept (the pcap is)." % (call, flow_id, MAX_EVENTS_BYTES >> 20)) from None
    if not isinstance(body, dict) or not all(
            isinstance(key, str) and EVENT_TYPE_RE.fullmatch(key) and isinstance(value, list) for key, value in body.items()):
        raise ScsProtocolError("%s: the events of flow %d are not an object of event type -> list of events; they were "
                               "not kept (the pcap is)." % (call, flow_id))
    return body


def save_events(path, events, mode):
    """Write ``events`` to ``path`` atomically; return the manifest's ``flow_events`` member (its file is the
    base name of ``path``)."""
    data = (json.dumps(events, sort_keys=True, indent=2) + "\n").encode("utf-8")
    size, sha256 = atomic_write_chunks(path, [data], mode=mode)
    count = sum(len(value) for value in events.values())
    return {"file": os.path.basename(path), "sha256": sha256, "size": size, "events": count,
            "types": {key: len(value) for key, value in events.items()}, "truncated": count >= MAX_EVENTS}


def fileinfo_events(events):
    """The fileinfo objects of the events (each a dict), in order."""
    for event in events.get("Fileinfo", ()) if isinstance(events.get("Fileinfo"), list) else ():
        info = event.get("fileinfo") if isinstance(event, dict) else None
        if isinstance(info, dict):
            yield info
