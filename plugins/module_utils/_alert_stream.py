# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The alerts of an alert_pcap run, one at a time and in bounded memory, from a query on SCS, a list or a file.

A source yields ``(alert, where)`` (``where`` names the place in a file, else None). An ``ordered`` source yields
every flow's alerts oldest first, so a flow's pcap can be fetched at its first alert with a capture file; the others
can be read twice (a first pass chooses the alert to extract each flow with).

- A query without ``limit`` reads alerts_tail oldest first, and past SCS's 10,000-result window: once a window is
  read, the next one starts at the newest ``@timestamp`` read (both ends are inclusive on SCS), skipping the alerts
  already read at that millisecond. Its end is pinned when it starts (``to``, or now), so alerts arriving meanwhile
  cannot move the pages.
- A query with ``limit`` (the newest alerts) and a lookup by ``alert_ids`` are read first, into an unnamed temporary
  file, then read back from it.
"""

from __future__ import annotations

import datetime
import heapq
import json
import tempfile
import time

from ansible_collections.stamus.scs.plugins.module_utils._alert_api import (
    ALERTS_PATH,
    DEFAULT_KEYWORD_SUFFIX,
    FROM_DATE,
    HOST_FIELD,
    ID_FIELD,
    ORDERING,
    SYSTEM_SETTINGS_PATH,
    TIMESTAMP_FIELD,
    TO_DATE,
)
from ansible_collections.stamus.scs.plugins.module_utils._alerts import (
    MAX_QUOTED_PROBES,
    alert_queries,
    normalize_alert,
    other_probes_message,
    read_keyword_suffix,
)
from ansible_collections.stamus.scs.plugins.module_utils._client import RESULT_WINDOW, read_pages
from ansible_collections.stamus.scs.plugins.module_utils._errors import (
    ScsConfigError,
    ScsQueryWindowError,
)
from ansible_collections.stamus.scs.plugins.module_utils._json_stream import MAX_DOCUMENT_CHARS, JsonDocuments, JsonStreamError
from ansible_collections.stamus.scs.plugins.module_utils._text import printable

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
MILLISECOND = datetime.timedelta(milliseconds=1)


def stamp_ms(value):
    """An alert's ``@timestamp`` as whole epoch milliseconds (exact, rounded down as Elasticsearch stores dates), or
    None when it is not a time."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        moment = datetime.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return (moment - EPOCH) // MILLISECOND


class Findings:
    """What reading a query found besides alerts: alerts of other probes left out (``dropped``), ids of
    ``alert_ids`` SCS returned nothing for (``not_found``), and the warnings to show."""

    def __init__(self, probe=None, keyword=DEFAULT_KEYWORD_SUFFIX, unread=None, ids=None):
        self.probe = probe
        self.keyword = keyword
        self.unread = unread
        self.ids = ids
        self.found = set()
        self.kept = 0
        self.dropped = 0
        self.dropped_names = []

    def keep(self, alert):
        """Whether to keep an alert SCS returned: one of another probe is counted and left out."""
        if self.probe is not None and alert.get(HOST_FIELD) != self.probe:
            self.dropped += 1
            name = printable(repr(alert.get(HOST_FIELD)))[:80]
            if len(self.dropped_names) <= MAX_QUOTED_PROBES and name not in self.dropped_names:
                self.dropped_names.append(name)
            return False
        self.kept += 1
        if self.ids is not None:
            self.found.add(alert.get(ID_FIELD))
        return True

    @property
    def not_found(self):
        if self.ids is None:
            return []
        return [alert_id for alert_id in dict.fromkeys(self.ids) if alert_id not in self.found]

    def warnings(self):
        out = []
        if self.dropped:
            out.append(other_probes_message(self.dropped, self.dropped_names, [self.probe], self.keyword))
        if self.unread and not self.kept:
            out.append("No alert matched on probe %s. The filter used the field %s.%s because SCS's keyword suffix "
                       "could not be read (%s); if this SCS names its exact fields otherwise (for example "
                       "%s.keyword), give the token's user the permission to read %s." % (
                           printable(repr(self.probe)), HOST_FIELD, self.keyword, self.unread, HOST_FIELD,
                           SYSTEM_SETTINGS_PATH))
        return out


class ListSource:
    """The alerts of a list (the alerts option)."""

    ordered = False

    def __init__(self, alerts):
        self.alerts = alerts
        self.findings = Findings()

    def __iter__(self):
        for alert in self.alerts:
            yield alert, None


class FileSource:
    """The alerts of a file: a JSON list of alerts, a JSON object with an ``alerts`` list (the registered result of
    alert_info), or one alert per line (NDJSON); each alert at most MAX_DOCUMENT_CHARS characters."""

    ordered = False

    def __init__(self, path):
        self.path = path
        self.findings = Findings()

    def __iter__(self):
        documents = JsonDocuments(self.path, "alerts", MAX_DOCUMENT_CHARS)
        try:
            for line, alert in documents:
                yield alert, "line %d of alerts_file" % line
        except JsonStreamError as err:
            raise ScsConfigError("alerts_file %s: %s Give a JSON list of alerts, a JSON object with an alerts list (as "
                                 "alert_info returns it), or one alert per line (NDJSON), each alert at most %d "
                                 "characters." % (self.path, err, MAX_DOCUMENT_CHARS)) from None
        except OSError as err:
            raise ScsConfigError("alerts_file %s cannot be read: %s. Give the path of a readable file on the host the "
                                 "module runs on." % (self.path, err.strerror or err)) from None


class SpooledSource:
    """Alerts read once from ``reader`` (SCS) into an unnamed temporary file (in the system's temporary directory), then
    read back from it as many times as needed. With ``newest``, only that many of them, the newest (by
    ``@timestamp``)."""

    ordered = False

    def __init__(self, reader, findings, newest=None):
        self.reader = reader
        self.findings = findings
        self.newest = newest
        self.file = None
        self.chosen = None

    def _spool(self):
        self.file = tempfile.TemporaryFile(prefix=".stamus-scs-alerts-")  # pylint: disable=consider-using-with
        heap = []
        for index, alert in enumerate(self.reader):
            self.file.write(json.dumps(alert, separators=(",", ":")).encode("utf-8") + b"\n")
            if self.newest is not None:
                entry = (str(alert.get(TIMESTAMP_FIELD, "")), -index)
                if len(heap) < self.newest:
                    heapq.heappush(heap, entry)
                elif self.newest and entry > heap[0]:
                    heapq.heapreplace(heap, entry)
        if self.newest is not None:
            self.chosen = {-index for _when, index in heap}

    def __iter__(self):
        if self.file is None:
            self._spool()
        self.file.seek(0)
        for index, line in enumerate(self.file):
            if self.chosen is None or index in self.chosen:
                yield json.loads(line), None

    def close(self):
        if self.file is not None:
            self.file.close()


class QueryStream:
    """The alerts of a query, oldest first, past SCS's result window (see the module's docstring)."""

    ordered = True

    def __init__(self, client, params, findings, page_size=100, window=RESULT_WINDOW, now=None):
        if not 1 <= page_size <= window:
            raise ScsConfigError("page_size must be between 1 and %d (got %s)." % (window, page_size))
        self.client = client
        self.findings = findings
        self.page_size = page_size
        self.window = window
        self.params = dict(params, **{ORDERING: TIMESTAMP_FIELD})
        self.params.setdefault(TO_DATE, int((time.time() if now is None else now) * 1000))
        self.expected = None

    def __iter__(self):
        start, end = self.params.get(FROM_DATE), self.params[TO_DATE]
        seen_at_start = set()
        while True:
            newest, newest_ids, full = yield from self._window(start, seen_at_start)
            if not full:
                return
            if newest is None or (start is not None and newest <= start) or newest >= end:
                raise ScsQueryWindowError(
                    "GET %s: more than %d alerts share one @timestamp (%s), or their @timestamp cannot be read: SCS "
                    "cannot page past them. Narrow the query (a probe, a signature or a qfilter)." % (
                        ALERTS_PATH, self.window, newest if newest is not None else "none"), method="GET",
                    path=ALERTS_PATH)
            start, seen_at_start = newest, newest_ids

    def _window(self, start, seen_at_start):
        """Yield the alerts of one result window from ``start`` (skipping ``seen_at_start`` there); return
        ``(newest @timestamp read, the ids read at it, whether the window was full)``."""
        params = dict(self.params)
        if start is not None:
            params[FROM_DATE] = start
        newest, newest_ids, full = None, set(), False
        for page in read_pages(self.client, ALERTS_PATH, params, self.page_size, self.window):
            if self.expected is None:
                self.expected = page.count
            full = page.full  # SCS offers no page past its window: a full window may hide more
            for doc in page.results:
                alert = normalize_alert(doc)
                stamp = stamp_ms(alert.get(TIMESTAMP_FIELD))
                if stamp is not None:
                    if newest is None or stamp > newest:
                        newest, newest_ids = stamp, set()
                    if stamp == newest:
                        newest_ids.add(alert.get(ID_FIELD))
                if stamp == start and alert.get(ID_FIELD) in seen_at_start:
                    continue
                if self.findings.keep(alert):
                    yield alert, None
        return newest, newest_ids, full


def newest_first(client, params, findings, page_size, limit):
    """The newest ``limit`` alerts of a query (at most SCS's result window), newest first."""
    for page in client.pages(ALERTS_PATH, params, page_size=page_size, limit=limit):
        for doc in page:
            alert = normalize_alert(doc)
            if findings.keep(alert):
                yield alert


def by_ids(client, queries, findings, page_size):
    """The alerts of ``alert_ids``, query by query (each names at most 50 ids, so it is read whole)."""
    for params in queries:
        for page in client.pages(ALERTS_PATH, params, page_size=page_size):
            for doc in page:
                alert = normalize_alert(doc)
                if findings.keep(alert):
                    yield alert


def alert_source(client, options, now=None):
    """The source of an alert_pcap run's alerts: the ``alerts`` list, the ``alerts_file``, or the query options
    (_argspecs.ALERT_QUERY_SPEC). With a probe, SCS's keyword suffix is read first."""
    if options.get("alerts") is not None:
        return ListSource(options["alerts"])
    if options.get("alerts_file") is not None:
        return FileSource(options["alerts_file"])
    probe = options.get("probe")
    keyword, unread = read_keyword_suffix(client) if probe is not None else (DEFAULT_KEYWORD_SUFFIX, None)
    queries = alert_queries(options, now, keyword)
    page_size, limit = options.get("page_size", 100), options.get("limit")
    if limit is not None and limit < 0:
        raise ScsConfigError("limit must be 0 or more (got %s)." % limit)
    ids = options.get("alert_ids")
    findings = Findings(probe, keyword, unread, ids)
    if ids is not None:
        return SpooledSource(by_ids(client, queries, findings, page_size), findings, newest=limit)
    if limit is not None:
        return SpooledSource(newest_first(client, queries[0], findings, page_size, limit), findings)
    return QueryStream(client, queries[0], findings, page_size, now=now)
