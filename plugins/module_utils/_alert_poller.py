# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading the alerts that appeared on SCS since the last read, each once: the logic of the stamus.scs.alerts event
source, synchronous and free of asyncio so that it can be tested with a fake client.

Each poll asks ``alerts_tail`` for alerts from ``high-water mark - overlap`` on (up to a year past this host's clock,
so that the window always ends after it starts), oldest first, and pages through them.
The overlap re-reads the recent past, so alerts that reach the index late (or move across a page boundary while
paging) are still read; the ids seen in that overlap are kept to skip the ones already returned.

Alert data is untrusted: a result that is not an alert object is skipped with a warning, and an alert dated more than
``max_skew_ms`` after this host's clock (a probe with a wrong clock, or a hostile server) is returned once but does
not move the mark: a mark in 2099 would make every later alert look old and never be returned. With ``probes``, an
alert whose ``host`` is not exactly one of them is left out with a warning, should SCS match more than the exact names.
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.stamus.scs.plugins.module_utils._alert_api import (
    FROM_DATE,
    HOST_FIELD,
    ORDERING,
    QFILTER,
    SEVERITY_FIELD,
    SIGNATURE_ID_FIELD,
    TIMESTAMP_FIELD,
    TO_DATE,
)
from ansible_collections.stamus.scs.plugins.module_utils._alerts import (
    ALERTS_PATH,
    MAX_SEVERITY,
    MAX_SIGNATURE_ID,
    check_qfilter,
    event_flags,
    normalize_alert,
    number_clause,
    other_probes_warning,
    parse_time,
    probe_clause,
    read_keyword_suffix,
)
from ansible_collections.stamus.scs.plugins.module_utils._client import RESULT_WINDOW, read_pages
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError

STATE_VERSION = 1
# Default allowance for the difference between this host's clock and the alerts' @timestamp (SCS and probe clocks).
DEFAULT_MAX_SKEW_MS = 30000
# Each poll asks for alerts up to this far ahead of this host's clock: SCS's own end (its clock) would hide alerts of
# probes whose clocks run ahead, and an end at or before the start would make SCS answer with the last hour instead.
FUTURE_HORIZON_MS = 366 * 24 * 3600 * 1000


def _as_list(name, value):
    """A list from a list, a single value or a comma-separated string (what rulebook variables often are)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    raise ScsConfigError("%s must be a list or a comma-separated string (got %r)." % (name, value))


def _int_list(name, value):
    return [int(item) if isinstance(item, str) and item.isdigit() else item for item in _as_list(name, value)]


def probe_names(probes):
    """The names of the ``probes`` option (a list or a comma-separated string), each checked."""
    names = [str(name).strip() for name in _as_list("probes", probes)]
    if any(not name for name in names):
        raise ScsConfigError("probes must be probe names (got an empty name in %r)." % (probes,))
    return list(dict.fromkeys(names))


def event_kinds_of(value):
    """The ``event_kinds`` option (a list or a comma-separated string; None for the default) as checked flags."""
    return event_flags(None if value is None or value == "" else [str(kind).strip() for kind in _as_list("event_kinds", value)])


def alert_filter(qfilter=None, severity=None, signature_ids=None, probes=None, keyword=None):
    """The Lucene ``qfilter`` for the source's filters, ANDed; ``None`` for every alert. User values never become
    Lucene syntax: numbers are validated and probe names quoted; ``qfilter`` is kept whole in parentheses. Probe
    names are only filtered on with the suffix of SCS's exact sub-fields (``keyword``)."""
    clauses = []
    if qfilter is not None and str(qfilter).strip():
        clauses.append("(%s)" % check_qfilter(str(qfilter).strip()))
    clauses.append(number_clause(SEVERITY_FIELD, "severity", _int_list("severity", severity), MAX_SEVERITY))
    clauses.append(number_clause(SIGNATURE_ID_FIELD, "signature_ids", _int_list("signature_ids", signature_ids),
                                 MAX_SIGNATURE_ID))
    names = probe_names(probes)
    if names and keyword is not None:
        clauses.append(probe_clause(names, keyword))
    return " AND ".join(clause for clause in clauses if clause) or None


def _iso(ms):
    try:
        moment = datetime.datetime.fromtimestamp(ms / 1000.0, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "%d ms since 1970" % ms
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


class AlertPoller:  # pylint: disable=too-many-instance-attributes
    """Returns, poll after poll, the alerts not returned before, oldest first.

    ``hwm`` is the newest ``@timestamp`` read (epoch ms) that is not future-dated (at most ``now + max_skew_ms``);
    ``seen`` the ids read at or after ``hwm - overlap`` (the part of the past each poll reads again), with their own
    ``@timestamp`` (so a future-dated alert stays known until the mark reaches it). A poll either completes or changes
    nothing, so a failed poll loses no alert. When a poll reaches SCS's 10,000-result window it returns what it read with
    ``more=True``, and the next poll resumes from the newest ``@timestamp`` read instead of the overlap.
    """

    def __init__(self, client, qfilter=None, start_ms=0, page_size=100, overlap_ms=60000, max_seen=100000,
                 window=RESULT_WINDOW, warn=None, max_skew_ms=DEFAULT_MAX_SKEW_MS, now=time.time, probes=None,
                 flags=None, keyword=None):
        if not 1 <= page_size <= window:
            raise ScsConfigError("page_size must be between 1 and %d (got %r)." % (window, page_size))
        self.client = client
        self.qfilter = qfilter
        self.probes = probe_names(probes)
        self.flags = flags if flags is not None else event_flags()
        # The suffix of SCS's exact sub-fields, read from SCS at the first poll that filters on probes.
        self.keyword = keyword
        self.page_size = page_size
        self.overlap_ms = overlap_ms
        self.max_seen = max_seen
        self.window = window
        self.warn = warn or (lambda message: None)
        self.max_skew_ms = max_skew_ms
        self.now = now
        self.floor = start_ms  # nothing older is ever asked for
        self.hwm = start_ms
        self.seen = {}  # _id -> @timestamp in ms
        self.resume_from = start_ms

    def next_from(self):
        if self.resume_from is not None:
            return self.resume_from
        return max(self.floor, self.hwm - self.overlap_ms)

    def ceiling(self):
        """The latest the mark may be: this host's clock plus the allowed skew; alerts dated later are future-dated."""
        return int(self.now() * 1000) + self.max_skew_ms

    def query_filter(self):
        """The qfilter of each request: the source's filters and, once SCS's keyword suffix is known, the probes."""
        if self.probes and self.keyword is None:
            # A passing failure fails this poll (retried later) rather than settle for the default suffix.
            self.keyword, unread = read_keyword_suffix(self.client, strict=True)
            if unread:
                self.warn("The probes are filtered on %s.%s, since SCS's keyword suffix could not be read (%s). If this "
                          "SCS names its exact fields otherwise (for example %s.keyword), no alert will match: give the "
                          "token's user the permission to read rules/system_settings/." % (
                              HOST_FIELD, self.keyword, unread, HOST_FIELD))
        clauses = [self.qfilter, probe_clause(self.probes, self.keyword) if self.probes else None]
        return " AND ".join(clause for clause in clauses if clause) or None

    def poll(self):
        """Return ``(alerts, more)``: the alerts not returned before, and whether to poll again at once."""
        qfilter = self.query_filter()
        from_ms = self.next_from()
        ceiling = self.ceiling()
        params = dict(self.flags, **{QFILTER: qfilter, FROM_DATE: from_ms, TO_DATE: max(ceiling, from_ms) + FUTURE_HORIZON_MS,
                                     ORDERING: TIMESTAMP_FIELD})
        fresh, newest, at_window = {}, None, False
        new_alerts, future, others = [], [], []
        for page in read_pages(self.client, ALERTS_PATH, params, self.page_size, self.window):
            at_window = page.full  # SCS offers no page past its window: a full window may hide more alerts
            for doc in page.results:
                alert, stamp = self._identify(doc)
                if alert is None:
                    continue
                if stamp <= ceiling:
                    newest = stamp if newest is None else max(newest, stamp)
                if alert["_id"] in self.seen or alert["_id"] in fresh:
                    continue
                fresh[alert["_id"]] = stamp
                if self.probes and alert.get(HOST_FIELD) not in self.probes:
                    others.append(alert)  # known from now on, so that the overlap does not warn of it again
                    continue
                if stamp > ceiling:
                    future.append(alert)
                new_alerts.append(alert)
        self._commit(fresh, newest, from_ms, at_window)
        if future:
            self._warn_future(future, ceiling)
        if others:
            self.warn(other_probes_warning(others, self.probes, self.keyword))
        return new_alerts, at_window

    def _warn_future(self, alerts, ceiling):
        first = alerts[0]
        self.warn("%d alert(s) dated more than max_clock_skew=%gs after this host's clock (%s), such as %r on probe %r "
                  "dated %r: returned once, but they do not move the source's position, so that later alerts are not "
                  "skipped. Check the clocks of SCS, the probes and this host." % (
                      len(alerts), self.max_skew_ms / 1000.0, _iso(ceiling - self.max_skew_ms), first["_id"],
                      first.get("host"), first.get("@timestamp")))

    def _identify(self, doc):
        if not isinstance(doc, dict):
            # One malformed document must not fail every poll from now on.
            self.warn("Skipped a result that is not an alert object (%s): %s" % (type(doc).__name__, repr(doc)[:200]))
            return None, None
        alert = normalize_alert(doc)
        alert_id = alert.get("_id")
        if not isinstance(alert_id, str) or not alert_id:
            self.warn("Skipped an alert without an _id (it cannot be deduplicated nor its pcap fetched): %s"
                      % str(alert)[:200])
            return None, None
        try:
            return alert, parse_time(TIMESTAMP_FIELD, alert.get(TIMESTAMP_FIELD))
        except ScsConfigError:
            self.warn("Skipped alert %s: its @timestamp %r is not an ISO 8601 time." % (alert_id, alert.get(TIMESTAMP_FIELD)))
            return None, None

    def _commit(self, fresh, newest, from_ms, at_window):
        self.seen.update(fresh)
        if newest is not None:
            self.hwm = max(self.hwm, newest)
        if not at_window:
            self.resume_from = None
        elif newest is not None and newest > from_ms:
            self.resume_from = newest
        else:
            # A whole window of alerts in the very millisecond the poll starts at: no query on @timestamp can page
            # past them, so step over that millisecond.
            self.warn("More than %d alerts share @timestamp %d ms: some of them may be skipped; narrow the source's "
                      "filters." % (self.window, from_ms))
            self.resume_from = from_ms + 1
        self._prune()

    def _prune(self):
        # Not next_from(): after a window resume, the next regular poll goes back to hwm - overlap again.
        horizon = max(self.floor, self.hwm - self.overlap_ms)
        self.seen = {alert_id: stamp for alert_id, stamp in self.seen.items() if stamp >= horizon}
        if len(self.seen) > self.max_seen:
            self.warn("%d alerts in the overlap, more than max_seen=%d: the oldest ids are forgotten and may be "
                      "returned again; raise max_seen or lower overlap." % (len(self.seen), self.max_seen))
            newest = sorted(self.seen.items(), key=lambda item: item[1])[-self.max_seen:]
            self.seen = dict(newest)

    # -- persistence (the event source writes this to its state_file) ------------------------------------------

    def state(self):
        return {"version": STATE_VERSION, "hwm": self.hwm, "floor": self.floor, "resume_from": self.resume_from,
                "seen": dict(self.seen)}

    def restore(self, state):
        """Continue from a ``state()``; raise ValueError when it is not one."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError("not a version %d state" % STATE_VERSION)
        numbers = [state.get("hwm"), state.get("floor")] + list((state.get("seen") or {}).values())
        if state.get("resume_from") is not None:
            numbers.append(state["resume_from"])
        if not isinstance(state.get("seen"), dict) or any(
                isinstance(value, bool) or not isinstance(value, int) for value in numbers):
            raise ValueError("hwm, floor, resume_from and seen must hold epoch milliseconds")
        self.hwm, self.floor, self.resume_from = state["hwm"], state["floor"], state.get("resume_from")
        self.seen = dict(state["seen"])
        ceiling = self.ceiling()
        saved = max(self.hwm, self.floor, self.resume_from or 0)
        if saved > ceiling:
            # A state saved before future-dated alerts were kept out of the mark (or by a host whose clock was ahead).
            now_ms = ceiling - self.max_skew_ms
            self.warn("The saved position (%s) is after this host's clock plus max_clock_skew: it moves back to this "
                      "host's clock (%s) so that new alerts are not skipped." % (_iso(saved), _iso(now_ms)))
            self.hwm, self.floor = min(self.hwm, now_ms), min(self.floor, now_ms)
            if self.resume_from is not None:
                self.resume_from = min(self.resume_from, now_ms)
