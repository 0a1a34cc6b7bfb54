"""In-memory index of the alert documents (loaded once from SQLite), sorted by time."""

import bisect
import threading

from .models import Alert


class AlertIndex:
    def __init__(self):
        self._lock = threading.Lock()
        self._snap = None  # (items, neg, by_id); items (-ts_ms, _id, doc) ascending = newest first

    def _ensure(self):
        snap = self._snap
        if snap is not None:
            return snap
        with self._lock:
            if self._snap is None:
                items = [(-ts, doc["_id"], doc) for ts, doc in Alert.objects.values_list("ts_ms", "doc")]
                self._snap = self._build(items)
            return self._snap

    @staticmethod
    def _build(items):
        items.sort(key=lambda it: (it[0], it[1]))
        return items, [it[0] for it in items], {it[1]: it[2] for it in items}

    def load(self):
        self._ensure()

    def reset(self):
        with self._lock:
            self._snap = None

    def add(self, docs_ts_ms):
        """Add [(doc, ts_ms)] (already saved in the database)."""
        self._ensure()
        with self._lock:
            items = list(self._snap[0]) + [(-ts, doc["_id"], doc) for doc, ts in docs_ts_ms]
            self._snap = self._build(items)

    def get(self, alert_id):
        return self._ensure()[2].get(alert_id)

    def search(self, predicate, from_ms, to_ms):
        """Docs with from_ms <= ts <= to_ms matching predicate, newest first."""
        items, neg, _by_id = self._ensure()
        lo = bisect.bisect_left(neg, -to_ms)
        hi = bisect.bisect_right(neg, -from_ms)
        return [it[2] for it in items[lo:hi] if predicate(it[2])]

    def all_docs(self):
        return [it[2] for it in self._ensure()[0]]

    def __len__(self):
        return len(self._ensure()[0])


INDEX = AlertIndex()
