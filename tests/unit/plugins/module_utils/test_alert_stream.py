"""The sources of alert_pcap's alerts on a real ScsClient over a fake alerts_tail: oldest first past the 10,000-result
window (here a window of 10), the newest first up to a limit, ids with not_found, files and lists."""

import datetime
import json
from urllib.parse import parse_qs, urlparse

import pytest

from ansible_collections.stamus.scs.plugins.module_utils._alert_stream import (
    FileSource,
    Findings,
    QueryStream,
    alert_source,
    stamp_ms,
)
from ansible_collections.stamus.scs.plugins.module_utils._client import ScsClient
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsQueryWindowError

TOKEN = "tok-unit-stream-5b2c"
ALERTS = "/rest/rules/es/alerts_tail/"
T0 = 1777716000000  # 2026-05-02T10:00:00Z


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class FakeTail:
    """alerts_tail as SCS answers it: from_date and to_date inclusive (ms), ordering by @timestamp either way (ties in
    index order), DRF pages, count capped at the window, a 500 past the window."""

    def __init__(self, window=10):
        self.window = window
        self.docs = []
        self.queries = []
        self.before_page = None

    def add(self, at, count=1, host="probe-01", **fields):
        for _number in range(count):
            self.docs.append(dict({"_id": "a%03d" % len(self.docs), "@timestamp": iso(at), "host": host,
                                   "flow_id": len(self.docs)}, **fields))

    def __call__(self, request):
        query = {key: values[0] for key, values in parse_qs(urlparse(request.url).query).items()}
        self.queries.append(query)
        if self.before_page is not None:
            self.before_page(int(query["page"]))
        page, size = int(query["page"]), int(query["page_size"])
        if page * size > self.window:
            return 500, b'{"detail": "ES failure: Result window is too large"}', {"Content-Type": "application/json"}
        low, high = int(query.get("from_date", 0)), int(query.get("to_date", 2 ** 62))  # SCS: now
        assert low < high, "SCS would answer with the last hour"
        matching = [doc for doc in self.docs if low <= stamp_ms(doc["@timestamp"]) <= high]
        matching.sort(key=lambda doc: stamp_ms(doc["@timestamp"]), reverse=query.get("ordering") != "@timestamp")
        count = min(len(matching), self.window)
        body = {"count": count, "next": "https://scs/x" if page * size < count else None, "previous": None,
                "results": matching[(page - 1) * size:page * size]}
        return 200, json.dumps(body).encode(), {"Content-Type": "application/json"}


@pytest.fixture
def tail(fake_server):
    fake = FakeTail()
    fake_server.add("GET", ALERTS, handler=fake)
    return fake


def client():
    return ScsClient("https://scs.example.net", TOKEN, retries=0)


def ids(source):
    return [alert["_id"] for alert, _where in source]


def test_stamps_are_exact_milliseconds():
    assert stamp_ms("2026-05-02T10:00:01.123Z") == T0 + 1123
    assert stamp_ms("2026-05-02T12:00:01.123999+0200") == T0 + 1123
    assert stamp_ms(T0) == T0 and stamp_ms("yesterday") is None and stamp_ms(True) is None


def test_a_query_is_read_oldest_first_past_the_result_window(tail):
    """35 alerts, 4 of them in the millisecond where the first window ends: each once, oldest first, never a page past
    the window (a 500), and every window's start inclusive."""
    for step in range(8):
        tail.add(T0 + step)
    tail.add(T0 + 8, count=4)
    for step in range(9, 32):
        tail.add(T0 + step)
    source = QueryStream(client(), {"from_date": T0 - 1000}, Findings(), page_size=3, window=10,
                         now=(T0 + 60000) / 1000)
    read = ids(source)
    assert read == [doc["_id"] for doc in sorted(tail.docs, key=lambda doc: doc["@timestamp"])]
    assert len(read) == len(set(read)) == 35 and source.expected == 10
    starts = [int(query["from_date"]) for query in tail.queries if query["page"] == "1"]
    assert starts[0] == T0 - 1000 and starts[1] == T0 + 8 and starts == sorted(starts)
    assert {query["to_date"] for query in tail.queries} == {str(T0 + 60000)}  # pinned when the query starts
    assert all(query["ordering"] == "@timestamp" for query in tail.queries)


def test_alerts_arriving_while_paging_do_not_move_the_pages(tail):
    for step in range(25):
        tail.add(T0 + step)
    tail.before_page = lambda page: tail.add(T0 + 90000 + len(tail.docs)) if page == 2 else None
    read = ids(QueryStream(client(), {"from_date": T0 - 1}, Findings(), page_size=3, window=10,
                           now=(T0 + 60000) / 1000))
    assert len(read) == len(set(read)) == 25  # the new ones are after the pinned end: for the next run


def test_more_alerts_in_one_millisecond_than_the_window_is_a_clear_error(tail):
    tail.add(T0 + 5, count=12)
    with pytest.raises(ScsQueryWindowError, match="more than 10 alerts share one @timestamp"):
        ids(QueryStream(client(), {"from_date": T0}, Findings(), page_size=5, window=10, now=(T0 + 9000) / 1000))


def test_a_limit_takes_the_newest_and_reads_them_before_any_fetch(tail):
    for step in range(8):
        tail.add(T0 + step)
    source = alert_source(client(), {"since": "30d", "limit": 3, "page_size": 2}, now=(T0 + 60000) / 1000)
    assert not source.ordered
    assert ids(source) == ["a007", "a006", "a005"] and ids(source) == ["a007", "a006", "a005"]
    assert len(list(tail.queries)) == 2  # read once, from SCS; the second pass reads the spool
    source.close()


def test_ids_not_found_are_told(tail):
    tail.add(T0, host="probe-01")
    tail.add(T0 + 1, host="probe-01-dmz")
    source = alert_source(client(), {"alert_ids": ["a000", "a001", "nope"], "page_size": 10})
    assert ids(source) == ["a001", "a000"]
    assert source.findings.not_found == ["nope"] and source.findings.dropped == 0
    source.close()


def test_alerts_of_other_probes_are_left_out_and_counted(tail):
    tail.add(T0, count=3, host="probe-01")
    tail.add(T0 + 1, count=2, host="probe-01-dmz")
    findings = Findings(probe="probe-01", keyword="keyword")
    assert ids(QueryStream(client(), {}, findings, page_size=5, window=10, now=(T0 + 9000) / 1000)) == ["a000", "a001", "a002"]
    assert findings.dropped == 2 and "SCS returned 2 alert(s) of other probes than 'probe-01' ('probe-01-dmz')" in (
        findings.warnings()[0])


def test_files_are_read_with_their_line_numbers(tmp_path):
    path = tmp_path / "alerts.ndjson"
    path.write_text('{"_id": "a"}\n\n{"_id": "b"}\n')
    assert [(alert["_id"], where) for alert, where in FileSource(str(path))] == [
        ("a", "line 1 of alerts_file"), ("b", "line 3 of alerts_file")]
    path.write_text('{"_id": "a"}\n{"_id": \n')
    with pytest.raises(ScsConfigError, match="alerts_file .*: line 2: not valid JSON"):
        list(FileSource(str(path)))
    with pytest.raises(ScsConfigError, match="cannot be read: No such file or directory"):
        list(FileSource(str(tmp_path / "missing.json")))
