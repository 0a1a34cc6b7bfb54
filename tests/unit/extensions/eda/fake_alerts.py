"""A fake SCS client for the alert poller: an in-memory alerts_tail with SCS's filtering, ordering and paging."""

import datetime

from ansible_collections.stamus.scs.plugins.module_utils._alert_api import SYSTEM_SETTINGS_PATH
from ansible_collections.stamus.scs.plugins.module_utils._alerts import ALERTS_PATH

T0 = 1777716000000  # 2026-05-02T10:00:00Z in ms


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def stamp(doc):
    return doc.get("_source", doc)["@timestamp"]


class FakeAlertsClient:
    """``get_json`` answers alerts_tail like SCS: ``from_date`` inclusive, ``ordering=@timestamp`` ascending (ties in
    index order), DRF pages, a 500 past the result window. ``before_page(page)`` may change the index between pages;
    ``failures`` is a list of exceptions raised by the next calls; ``junk`` holds malformed results (``None``, a
    string...) put first in every page. ``settings`` is what rules/system_settings/ answers, unless ``settings_error`` is set (and raised).
    The qfilter is not applied: every alert from ``from_date`` on is returned, as by a server that matches too much."""

    def __init__(self, window=10000):
        self.docs = []
        self.window = window
        self.calls = []
        self.failures = []
        self.before_page = None
        self.junk = []
        self.settings = {"es_keyword": "keyword"}
        self.settings_error = None
        self.settings_calls = 0

    def add(self, count=1, at=T0, prefix="a", **fields):
        added = []
        for _number in range(count):
            doc = dict({"_id": "%s%d" % (prefix, len(self.docs)), "@timestamp": iso(at), "alert": {"severity": 1}}, **fields)
            self.docs.append(doc)
            added.append(doc)
        return added

    def get_json(self, path, params=None):
        if path == SYSTEM_SETTINGS_PATH:
            self.settings_calls += 1
            if self.settings_error is not None:
                raise self.settings_error
            return self.settings
        assert path == ALERTS_PATH and params["ordering"] == "@timestamp"
        assert params["from_date"] < params["to_date"], "SCS would answer with the last hour"
        self.calls.append(dict(params))
        if self.failures:
            raise self.failures.pop(0)
        if self.before_page is not None:
            self.before_page(params["page"])
        page, size = params["page"], params["page_size"]
        if page * size > self.window:
            raise AssertionError("the poller asked past the result window: page %d of %d" % (page, size))
        from_iso = iso(params["from_date"])
        matching = sorted((doc for doc in self.docs if stamp(doc) >= from_iso), key=stamp)
        results = matching[(page - 1) * size:page * size]
        more = page * size < min(len(matching), self.window)
        return {"count": min(len(matching), self.window), "next": "https://scs/next" if more else None,
                "results": list(self.junk) + results}

    @staticmethod
    def scrub(text):
        return str(text)
