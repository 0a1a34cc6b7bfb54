# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Alert queries on SCS (``alerts_tail``): building safe Lucene filters and time windows, reading results."""

from __future__ import annotations

import datetime
import re
import time

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsProtocolError
from ansible_collections.stamus.scs.plugins.module_utils._lucene import check_query

ALERTS_PATH = "rules/es/alerts_tail/"
MAX_SIGNATURE_ID = 2 ** 32 - 1
MAX_SEVERITY = 255
MAX_FLOW_ID = 2 ** 64 - 1
SINCE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SINCE_RE = re.compile(r"\s*(\d+)\s*([smhdw])\s*")  # whole string: fullmatch
# Epoch values above this are taken as milliseconds (1e11 seconds is the year 5138).
EPOCH_MS_THRESHOLD = 10 ** 11
# SCS's alphabet for alert ids; an id becomes a file name (<id>.json, <id>.pcap) on SCS and on the probe, so it must
# fit in 255 bytes with its extension.
MAX_ALERT_ID_LENGTH = 250
ALERT_ID_RE = re.compile(r"[0-9A-Za-z_-]{1,%d}" % MAX_ALERT_ID_LENGTH)
# alert_ids are looked up this many at a time, so that each request's URL stays far below common limits (8 KiB).
IDS_PER_QUERY = 50
ID_CHARS_PER_QUERY = 2000

ALERT_QUERY_ARGUMENT_SPEC = {
    "alert_ids": {"type": "list", "elements": "str"},
    "signature_id": {"type": "list", "elements": "int", "aliases": ["signature_ids"]},
    "severity": {"type": "list", "elements": "int"},
    "flow_id": {"type": "int"},
    "probe": {"type": "str"},
    "qfilter": {"type": "str"},
    "since": {"type": "str"},
    "from": {"type": "str"},
    "to": {"type": "str"},
    "limit": {"type": "int"},
    "page_size": {"type": "int", "default": 100},
}
# The options that select alerts (limit and page_size only shape the reading).
ALERT_FILTER_OPTIONS = ("alert_ids", "signature_id", "severity", "flow_id", "probe", "qfilter", "since", "from", "to")


def lucene_quote(value):
    """Quote a value for a Lucene query string so that no character in it acts as syntax."""
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"')


def check_qfilter(qfilter):
    """Refuse a qfilter that is not one balanced Lucene expression: it could escape the parentheses it is put in and
    turn the other filters (probe, signature, flow) into alternatives instead of restrictions."""
    return check_query(qfilter)


def checked_int(name, value, maximum):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ScsConfigError("%s must be a whole number between 0 and %d (got %r)." % (name, maximum, value))
    return value


def parse_since(value):
    """``24h`` -> 86400 seconds."""
    match = SINCE_RE.fullmatch(str(value))
    if not match or int(match.group(1)) == 0:
        raise ScsConfigError("since must be a positive duration such as 30m, 24h or 7d (got %r)." % (value,))
    return int(match.group(1)) * SINCE_UNITS[match.group(2)]


def parse_time(name, value):
    """ISO 8601 (naive means UTC) or epoch seconds/milliseconds -> epoch milliseconds."""
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        number = float(text)
        return int(number if number >= EPOCH_MS_THRESHOLD else number * 1000)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ScsConfigError(
            "%s must be an ISO 8601 time such as 2026-05-02T10:00:00Z or epoch seconds (got %r)." % (name, value)) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


def time_window(since=None, from_time=None, to_time=None, now=None):
    """Return ``(from_ms, to_ms)``; ``None`` parts leave SCS's default (the last 30 days)."""
    now_ms = int((time.time() if now is None else now) * 1000)
    if since is not None and from_time is not None:
        raise ScsConfigError("Use either since (relative) or from (absolute), not both.")
    start = now_ms - parse_since(since) * 1000 if since is not None else None
    if from_time is not None:
        start = parse_time("from", from_time)
    end = parse_time("to", to_time) if to_time is not None else None
    if start is not None and start > now_ms:
        raise ScsConfigError("The time window starts in the future (from=%s): no alert can match; check from/since." % from_time)
    if start is not None and end is not None and start >= end:
        raise ScsConfigError("The time window is reversed or empty (from is not before to): swap or fix from and to.")
    return start, end


def any_of(field, values):
    """``field:v`` or ``field:(v1 OR v2 ...)`` for values that are already Lucene-safe."""
    return "%s:%s" % (field, values[0] if len(values) == 1 else "(%s)" % " OR ".join(values))


def number_clause(field, name, values, maximum):
    """The clause for whole numbers (one, or a list: any of them), each checked; None when there is none."""
    if values is None:
        return None
    values = values if isinstance(values, (list, tuple)) else [values]
    numbers = ["%d" % checked_int(name, value, maximum) for value in values]
    return any_of(field, list(dict.fromkeys(numbers))) if numbers else None


def alert_query_params(signature_id=None, flow_id=None, probe=None, qfilter=None, since=None, from_time=None,
                       to_time=None, now=None, severity=None):
    """Query parameters for alerts_tail. Every value is validated or quoted: user input never becomes Lucene syntax."""
    clauses = []
    if qfilter is not None and qfilter.strip():
        clauses.append("(%s)" % check_qfilter(qfilter.strip()))
    clauses.append(number_clause("alert.signature_id", "signature_id", signature_id, MAX_SIGNATURE_ID))
    clauses.append(number_clause("alert.severity", "severity", severity, MAX_SEVERITY))
    clauses.append(number_clause("flow_id", "flow_id", flow_id, MAX_FLOW_ID))
    if probe is not None:
        if not str(probe).strip():
            raise ScsConfigError("probe must be a probe name (got an empty string).")
        clauses.append("host:%s" % lucene_quote(probe))
    start, end = time_window(since, from_time, to_time, now)
    params = {"qfilter": " AND ".join(clause for clause in clauses if clause) or None, "from_date": start,
              "to_date": end}
    return {key: value for key, value in params.items() if value is not None}


def check_alert_id(value, what="alert id"):
    """``value`` if it is an SCS alert id (a full match of ALERT_ID_RE), else a ScsConfigError naming ``what``."""
    if not isinstance(value, str) or not ALERT_ID_RE.fullmatch(value):
        raise ScsConfigError("%s must be an SCS alert _id (1 to %d letters, digits, _ and -), got %.80r."
                             % (what, MAX_ALERT_ID_LENGTH, value))
    return value


def id_batches(ids, per_query=IDS_PER_QUERY, chars=ID_CHARS_PER_QUERY):
    """Split ``ids`` into lists of at most ``per_query`` ids and about ``chars`` characters each."""
    batches, batch, size = [], [], 0
    for alert_id in ids:
        if batch and (len(batch) == per_query or size + len(alert_id) > chars):
            batches.append(batch)
            batch, size = [], 0
        batch.append(alert_id)
        size += len(alert_id) + 6  # quotes and " OR "
    return batches + [batch] if batch else batches


def alert_queries(options, now=None):
    """The alerts_tail parameters for a module's query options (ALERT_QUERY_ARGUMENT_SPEC): one set, or one per batch
    of ``alert_ids`` (none for an empty list). An id names one alert, so without since or from ids are looked up over
    all of time rather than SCS's default 30 days."""
    ids = options.get("alert_ids")
    from_time = options.get("from")
    if ids is not None:
        ids = list(dict.fromkeys(check_alert_id(alert_id, "Each of alert_ids") for alert_id in ids))
        if options.get("since") is None and from_time is None:
            from_time = "0"
    base = alert_query_params(signature_id=options.get("signature_id"), severity=options.get("severity"),
                              flow_id=options.get("flow_id"),
                              probe=options.get("probe"), qfilter=options.get("qfilter"), since=options.get("since"),
                              from_time=from_time, to_time=options.get("to"), now=now)
    if ids is None:
        return [base]
    queries = []
    for batch in id_batches(ids):
        clause = "_id:(%s)" % " OR ".join(lucene_quote(alert_id) for alert_id in batch)
        queries.append(dict(base, qfilter=" AND ".join(part for part in (base.get("qfilter"), clause) if part)))
    return queries


def query_alerts(client, options, now=None):
    """Run a module's query options; return ``(alerts, total, truncated, not_found)``, where ``not_found`` lists the
    ``alert_ids`` SCS returned no alert for."""
    queries = alert_queries(options, now)
    page_size, limit = options.get("page_size", 100), options.get("limit")
    if options.get("alert_ids") is None:
        alerts, total, truncated = find_alerts(client, queries[0], page_size=page_size, limit=limit)
        return alerts, total, truncated, []
    alerts, total = [], 0
    for query in queries:
        # Each batch matches at most about as many alerts as it names ids, so no limit is needed to read it whole.
        found, count, _truncated = find_alerts(client, query, page_size=page_size)
        alerts += found
        total += count
    if len(queries) > 1:
        # Newest first across batches, as within one; SCS writes @timestamp in one UTC ISO 8601 form.
        alerts.sort(key=lambda alert: str(alert.get("@timestamp", "")), reverse=True)
    returned = {alert.get("_id") for alert in alerts}
    not_found = [alert_id for alert_id in dict.fromkeys(options["alert_ids"]) if alert_id not in returned]
    truncated = limit is not None and len(alerts) > limit
    return (alerts[:limit] if limit is not None else alerts), total, truncated, not_found


def normalize_alert(doc):
    """An alert dict with ``_id`` at the top, whether SCS returned it flat or as a raw ES hit."""
    if not isinstance(doc, dict):
        raise ScsProtocolError("SCS returned an alert that is not an object: %r" % (doc,))
    if isinstance(doc.get("_source"), dict):
        alert = dict(doc["_source"])
        alert["_id"] = doc.get("_id", alert.get("_id"))
        return alert
    return doc


def find_alerts(client, params, page_size=100, limit=None):
    """Read matching alerts; return ``(alerts, total, truncated)``.

    ``total`` is SCS's count (capped at 10,000); ``truncated`` tells whether ``limit`` left alerts out.
    """
    results, total, truncated = client.get_all(ALERTS_PATH, params, page_size=page_size, limit=limit)
    return [normalize_alert(doc) for doc in results], total, truncated
