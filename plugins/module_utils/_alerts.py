# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Alert queries on SCS (``alerts_tail``): building safe Lucene filters and time windows, reading results.

The names of the API (paths, parameters, fields, flags) live in _alert_api.
"""

from __future__ import annotations

import datetime
import re
import time

from ansible_collections.stamus.scs.plugins.module_utils._alert_api import (
    ALERTS_PATH,
    DEFAULT_EVENT_KINDS,
    DEFAULT_KEYWORD_SUFFIX,
    DEFAULT_WINDOW_SECONDS,
    ES_KEYWORD_SETTING,
    EVENT_KIND_FLAGS,
    FLOW_ID_FIELD,
    FROM_DATE,
    HOST_FIELD,
    ID_FIELD,
    KEYWORD_SUFFIX_RE,
    QFILTER,
    SEVERITY_FIELD,
    SIGNATURE_ID_FIELD,
    SOURCE_FIELD,
    SYSTEM_SETTINGS_PATH,
    TIMESTAMP_FIELD,
    TO_DATE,
)
from ansible_collections.stamus.scs.plugins.module_utils._errors import (
    ScsAuthenticationError,
    ScsConfigError,
    ScsError,
    ScsProtocolError,
    ScsServerError,
    ScsTransportError,
)
from ansible_collections.stamus.scs.plugins.module_utils._lucene import check_query
from ansible_collections.stamus.scs.plugins.module_utils._text import printable

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
# How many names of other probes a warning quotes.
MAX_QUOTED_PROBES = 3

# The options that select alerts (limit and page_size only shape the reading).
ALERT_FILTER_OPTIONS = ("alert_ids", "signature_id", "severity", "flow_id", "probe", "qfilter", "event_kinds", "since",
                        "from", "to")
WINDOW_OPTIONS = ("since", "from", "to")


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
    """Return ``(from_ms, to_ms)``; ``None`` parts leave SCS's default (the last 30 days, up to now).

    SCS answers a window whose start is not before its end with the last hour instead, silently: such a window is
    refused here, SCS's default start included (a ``to`` more than 30 days ago without a start).
    """
    now_ms = int((time.time() if now is None else now) * 1000)
    if since is not None and from_time is not None:
        raise ScsConfigError("Use either since (relative) or from (absolute), not both.")
    start = now_ms - parse_since(since) * 1000 if since is not None else None
    if from_time is not None:
        start = parse_time("from", from_time)
    end = parse_time("to", to_time) if to_time is not None else None
    if start is not None and end is None and start >= now_ms:
        raise ScsConfigError("The time window starts now or in the future (from=%s): no alert can match, and SCS would "
                             "answer with the last hour instead; check from/since." % from_time)
    if start is not None and end is not None and start >= end:
        raise ScsConfigError("The time window is reversed or empty (from is not before to): swap or fix from and to "
                             "(SCS would answer with the hour before to instead).")
    if start is None and end is not None and end <= now_ms - DEFAULT_WINDOW_SECONDS * 1000:
        raise ScsConfigError("to=%s is more than 30 days ago and no start is given: SCS's default window starts 30 days "
                             "ago, after that end, and SCS would answer with the hour before to instead. Set from (or "
                             "since) too." % to_time)
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


def probe_clause(names, keyword=DEFAULT_KEYWORD_SUFFIX):
    """The exact filter on probe names: ``host.<keyword>:"name"`` (any of them), or None without names.

    The bare ``host`` field is analysed text, on which ``host:"probe-01"`` is a phrase that also matches
    ``probe-01-dmz``; its keyword sub-field holds the whole name, as the SCS web interfaces filter it.
    """
    if not names:
        return None
    if not KEYWORD_SUFFIX_RE.fullmatch(keyword or ""):
        raise ScsConfigError("The keyword sub-field suffix must be a plain name (got %r)." % (keyword,))
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ScsConfigError("probe must be a probe name (got %r)." % (name,))
    return any_of("%s.%s" % (HOST_FIELD, keyword), [lucene_quote(name) for name in dict.fromkeys(names)])


def event_flags(kinds=None, for_ids=False):
    """The alerts_tail flags for the event kinds asked for: each of ``alert``, ``stamus`` and ``discovery`` explicitly
    ``true`` or ``false``.

    Without ``kinds``: alerts only, as SCS by default; with ``for_ids``, every kind, since an id names one event
    whatever its kind (the SCS web interface looks an event up that way).
    """
    if kinds is None:
        kinds = list(EVENT_KIND_FLAGS) if for_ids else list(DEFAULT_EVENT_KINDS)
    unknown = [kind for kind in kinds if kind not in EVENT_KIND_FLAGS]
    if unknown or not kinds:
        raise ScsConfigError("event_kinds must list one or more of %s (got %r)." % (", ".join(EVENT_KIND_FLAGS), kinds))
    return {flag: "true" if kind in kinds else "false" for kind, flag in EVENT_KIND_FLAGS.items()}


def alert_query_params(signature_id=None, flow_id=None, probe=None, qfilter=None, since=None, from_time=None,
                       to_time=None, now=None, severity=None, event_kinds=None, for_ids=False,
                       keyword=DEFAULT_KEYWORD_SUFFIX):
    """Query parameters for alerts_tail. Every value is validated or quoted: user input never becomes Lucene syntax."""
    clauses = []
    if qfilter is not None and qfilter.strip():
        clauses.append("(%s)" % check_qfilter(qfilter.strip()))
    clauses.append(number_clause(SIGNATURE_ID_FIELD, "signature_id", signature_id, MAX_SIGNATURE_ID))
    clauses.append(number_clause(SEVERITY_FIELD, "severity", severity, MAX_SEVERITY))
    clauses.append(number_clause(FLOW_ID_FIELD, "flow_id", flow_id, MAX_FLOW_ID))
    clauses.append(probe_clause([probe] if probe is not None else [], keyword))
    start, end = time_window(since, from_time, to_time, now)
    params = {QFILTER: " AND ".join(clause for clause in clauses if clause) or None, FROM_DATE: start, TO_DATE: end}
    params.update(event_flags(event_kinds, for_ids))
    return {key: value for key, value in params.items() if value is not None}


def read_keyword_suffix(client, strict=False):
    """``(suffix, None)`` with the suffix of SCS's exact sub-fields (``es_keyword`` of its system settings), or
    ``(DEFAULT_KEYWORD_SUFFIX, why it could not be read)``.

    A refused token is raised. With ``strict``, so are the failures that may pass (no answer, HTTP 5xx), for a caller
    that retries later rather than settle for the default.
    """
    try:
        body = client.get_json(SYSTEM_SETTINGS_PATH)
    except ScsAuthenticationError:
        raise
    except (ScsTransportError, ScsServerError) as err:
        if strict:
            raise
        return DEFAULT_KEYWORD_SUFFIX, str(err)
    except ScsError as err:
        return DEFAULT_KEYWORD_SUFFIX, str(err)
    value = body.get(ES_KEYWORD_SETTING) if isinstance(body, dict) else None
    if isinstance(value, str) and KEYWORD_SUFFIX_RE.fullmatch(value):
        return value, None
    return DEFAULT_KEYWORD_SUFFIX, "GET %s holds no usable %s (got %s)" % (
        SYSTEM_SETTINGS_PATH, ES_KEYWORD_SETTING, printable(repr(value)[:80]))


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


def alert_queries(options, now=None, keyword=DEFAULT_KEYWORD_SUFFIX):
    """The alerts_tail parameters for a module's query options (_argspecs.ALERT_QUERY_SPEC): one set, or one per batch
    of ``alert_ids`` (none for an empty list). An id names one event, so without since or from ids are looked up over
    all of time rather than SCS's default 30 days, and without event_kinds among every kind of event."""
    ids = options.get("alert_ids")
    from_time = options.get("from")
    if ids is not None:
        ids = list(dict.fromkeys(check_alert_id(alert_id, "Each of alert_ids") for alert_id in ids))
        if options.get("since") is None and from_time is None:
            from_time = "0"
    base = alert_query_params(signature_id=options.get("signature_id"), severity=options.get("severity"),
                              flow_id=options.get("flow_id"),
                              probe=options.get("probe"), qfilter=options.get("qfilter"), since=options.get("since"),
                              from_time=from_time, to_time=options.get("to"), now=now,
                              event_kinds=options.get("event_kinds"), for_ids=ids is not None, keyword=keyword)
    if ids is None:
        return [base]
    queries = []
    for batch in id_batches(ids):
        clause = "%s:(%s)" % (ID_FIELD, " OR ".join(lucene_quote(alert_id) for alert_id in batch))
        queries.append(dict(base, qfilter=" AND ".join(part for part in (base.get(QFILTER), clause) if part)))
    return queries


class AlertQuery:
    """What a module's query options found: ``alerts``, SCS's ``total``, whether ``limit`` ``truncated`` them, the
    ``not_found`` ids, how many alerts of other probes were ``dropped`` and the ``warnings`` to show."""

    def __init__(self, alerts, total, truncated, not_found=(), dropped=0, warnings=()):
        self.alerts = alerts
        self.total = total
        self.truncated = truncated
        self.not_found = list(not_found)
        self.dropped = dropped
        self.warnings = list(warnings)


def query_alerts(client, options, now=None):
    """Run a module's query options (_argspecs.ALERT_QUERY_SPEC); return an AlertQuery.

    With a probe, the suffix of SCS's exact sub-fields is read first, and any alert whose ``host`` is not exactly the
    probe is left out (and counted), should SCS still match more.
    """
    probe = options.get("probe")
    keyword, unread = read_keyword_suffix(client) if probe is not None else (DEFAULT_KEYWORD_SUFFIX, None)
    queries = alert_queries(options, now, keyword)
    page_size, limit = options.get("page_size", 100), options.get("limit")
    if options.get("alert_ids") is None:
        alerts, total, truncated = find_alerts(client, queries[0], page_size=page_size, limit=limit)
        ids = None
    else:
        alerts, total = [], 0
        for query in queries:
            # Each batch matches at most about as many alerts as it names ids, so no limit is needed to read it whole.
            found, count, _truncated = find_alerts(client, query, page_size=page_size)
            alerts += found
            total += count
        if len(queries) > 1:
            # Newest first across batches, as within one; SCS writes @timestamp in one UTC ISO 8601 form.
            alerts.sort(key=lambda alert: str(alert.get(TIMESTAMP_FIELD, "")), reverse=True)
        ids = options["alert_ids"]
    warnings = []
    alerts, others = split_by_probe(alerts, [probe] if probe is not None else None)
    if others:
        warnings.append(other_probes_warning(others, [probe], keyword))
    if unread and not alerts:
        warnings.append("No alert matched on probe %s. The filter used the field %s.%s because SCS's keyword suffix "
                        "could not be read (%s); if this SCS names its exact fields otherwise (for example "
                        "%s.keyword), give the token's user the permission to read %s." % (
                            printable(repr(probe)), HOST_FIELD, keyword, unread, HOST_FIELD, SYSTEM_SETTINGS_PATH))
    if ids is not None:
        returned = {alert.get(ID_FIELD) for alert in alerts}
        not_found = [alert_id for alert_id in dict.fromkeys(ids) if alert_id not in returned]
        truncated = limit is not None and len(alerts) > limit
        alerts = alerts[:limit] if limit is not None else alerts
    else:
        not_found = []
    return AlertQuery(alerts, total, truncated, not_found, len(others), warnings)


def shown_option(value):
    """An option's value as a message quotes it: lists comma-separated, strings quoted without control characters."""
    if isinstance(value, list):
        return ",".join(printable(str(item)) for item in value)
    return printable(repr(value)) if isinstance(value, str) else str(value)


def no_match_warning(options):
    """The warning for a query of a module's options that matched no alert: the selection as given, and the window."""
    selection = ", ".join("%s=%s" % (name, shown_option(options[name])) for name in ALERT_FILTER_OPTIONS
                          if name not in WINDOW_OPTIONS and options.get(name) is not None)
    if options.get("since") is not None:
        window = "the last %s" % printable(options["since"])
    elif options.get("from") is not None or options.get("to") is not None:
        window = "the window from %s to %s" % (printable(options.get("from") or "30 days ago"),
                                               printable(options.get("to") or "now"))
    else:
        window = "SCS's default window (the last 30 days)"
    return "No alert matches %s in %s: check the filters, or widen the window (for example since=90d)." % (
        selection or "the query", window)


def split_by_probe(alerts, probes):
    """``(kept, others)``: the alerts whose ``host`` is exactly one of ``probes`` and the others (none without
    probes)."""
    if not probes:
        return alerts, []
    wanted = set(probes)
    kept, others = [], []
    for alert in alerts:
        (kept if alert.get(HOST_FIELD) in wanted else others).append(alert)
    return kept, others


def other_probes_warning(others, probes, keyword):
    names = list(dict.fromkeys(printable(repr(alert.get(HOST_FIELD)))[:80] for alert in others))
    return other_probes_message(len(others), names, probes, keyword)


def other_probes_message(count, names, probes, keyword):
    """The warning about ``count`` alerts of other probes (``names``: the first of their quoted names) that SCS
    returned for ``probes``."""
    return ("SCS returned %d alert(s) of other probes than %s (%s%s): its filter on %s.%s matched more than the exact "
            "name, so they were left out. Check the %s system setting of SCS." % (
                count, ", ".join(printable(repr(probe)) for probe in probes), ", ".join(names[:MAX_QUOTED_PROBES]),
                ", ..." if len(names) > MAX_QUOTED_PROBES else "", HOST_FIELD, keyword, ES_KEYWORD_SETTING))


def normalize_alert(doc):
    """An alert dict with ``_id`` at the top, whether SCS returned it flat or as a raw ES hit (before mid-2022)."""
    if not isinstance(doc, dict):
        raise ScsProtocolError("SCS returned an alert that is not an object: %r" % (doc,))
    if isinstance(doc.get(SOURCE_FIELD), dict):
        alert = dict(doc[SOURCE_FIELD])
        alert[ID_FIELD] = doc.get(ID_FIELD, alert.get(ID_FIELD))
        return alert
    return doc


def find_alerts(client, params, page_size=100, limit=None):
    """Read matching alerts; return ``(alerts, total, truncated)``.

    ``total`` is SCS's count (capped at 10,000); ``truncated`` tells whether ``limit`` left alerts out.
    """
    results, total, truncated = client.get_all(ALERTS_PATH, params, page_size=page_size, limit=limit)
    return [normalize_alert(doc) for doc in results], total, truncated
