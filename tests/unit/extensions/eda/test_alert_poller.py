import pytest

from ansible_collections.stamus.scs.plugins.module_utils._alert_poller import (
    FUTURE_HORIZON_MS,
    AlertPoller,
    alert_filter,
    event_kinds_of,
)
from ansible_collections.stamus.scs.plugins.module_utils._errors import (
    ScsConfigError,
    ScsNotFoundError,
    ScsServerError,
    ScsTransportError,
)

from fake_alerts import T0, FakeAlertsClient, iso


def ids(alerts):
    return [alert["_id"] for alert in alerts]


def drain(poller):
    """Poll until a poll does not ask for another at once; return every alert and the number of polls."""
    alerts, polls, more = [], 0, True
    while more:
        batch, more = poller.poll()
        alerts += batch
        polls += 1
        assert polls < 100, "the poller does not progress"
    return alerts, polls


@pytest.fixture
def scs():
    return FakeAlertsClient()


def test_each_alert_is_returned_once_across_polls(scs):
    poller = AlertPoller(scs, start_ms=T0, page_size=2)
    first = scs.add(3, at=T0 + 1000)
    assert poller.poll() == (first, False)
    assert poller.poll() == ([], False)
    later = scs.add(2, at=T0 + 5000)
    assert poller.poll() == (later, False)
    assert poller.hwm == T0 + 5000


def test_query_is_oldest_first_from_the_overlap(scs):
    poller = AlertPoller(scs, qfilter="alert.severity:1", start_ms=T0, page_size=50, overlap_ms=60000)
    scs.add(1, at=T0 + 120000)
    poller.poll()
    poller.poll()
    now_ms = int(poller.now() * 1000)
    to_date = scs.calls[0].pop("to_date")
    assert scs.calls[0] == {"qfilter": "alert.severity:1", "from_date": T0, "ordering": "@timestamp", "page": 1,
                            "page_size": 50, "alert": "true", "stamus": "false", "discovery": "false"}
    assert now_ms + FUTURE_HORIZON_MS <= to_date <= now_ms + FUTURE_HORIZON_MS + 60000
    assert scs.calls[1]["from_date"] == T0 + 120000 - 60000


def test_the_window_always_ends_after_it_starts(scs):
    """SCS answers from_date >= to_date with the last hour: not even a mark ahead of this host's clock sends one."""
    ahead = T0 + 2 * FUTURE_HORIZON_MS
    poller = AlertPoller(scs, start_ms=ahead, overlap_ms=0, now=lambda: T0 / 1000.0)
    poller.poll()  # the fake asserts from_date < to_date
    assert scs.calls[0]["from_date"] == ahead and scs.calls[0]["to_date"] == ahead + FUTURE_HORIZON_MS


def test_event_kinds_are_sent_as_flags(scs):
    poller = AlertPoller(scs, start_ms=T0, flags=event_kinds_of("doc, sightings"))
    poller.poll()
    assert {key: scs.calls[0][key] for key in ("alert", "stamus", "discovery")} == {
        "alert": "false", "stamus": "true", "discovery": "true"}
    assert event_kinds_of(None) == event_kinds_of("") == {"alert": "true", "stamus": "false", "discovery": "false"}
    with pytest.raises(ScsConfigError, match="event_kinds must list one or more of alerts, doc, sightings"):
        event_kinds_of(["alerts", "docs"])


def test_probes_are_exact_on_the_keyword_sub_field_and_others_dropped_once(scs):
    warnings = []
    poller = AlertPoller(scs, start_ms=T0, probes="probe-01", warn=warnings.append)
    mine = scs.add(2, at=T0 + 10, host="probe-01")
    scs.add(1, at=T0 + 20, prefix="dmz", host="probe-01-dmz")
    assert poller.poll() == (mine, False)
    assert scs.calls[0]["qfilter"] == 'host.keyword:"probe-01"' and scs.settings_calls == 1
    assert warnings == ["SCS returned 1 alert(s) of other probes than 'probe-01' ('probe-01-dmz'): its filter on "
                        "host.keyword matched more than the exact name, so they were left out. Check the es_keyword "
                        "system setting of SCS."]
    later = scs.add(1, at=T0 + 30, host="probe-01")
    assert poller.poll() == (later, False)  # the dropped alert, read again in the overlap, is not warned of again
    assert len(warnings) == 1 and scs.settings_calls == 1


def test_an_unreadable_keyword_suffix_falls_back_to_raw_with_a_warning(scs):
    warnings = []
    scs.settings_error = ScsNotFoundError("HTTP 404")
    poller = AlertPoller(scs, start_ms=T0, probes=["probe-01", "probe-02"], warn=warnings.append)
    poller.poll()
    assert scs.calls[0]["qfilter"] == 'host.raw:("probe-01" OR "probe-02")'
    assert "filtered on host.raw" in warnings[0] and "HTTP 404" in warnings[0]


def test_a_passing_failure_of_the_settings_fails_the_poll_and_is_read_again(scs):
    scs.settings_error = ScsTransportError("no answer")
    poller = AlertPoller(scs, start_ms=T0, probes="probe-01", qfilter="app_proto:http")
    scs.add(1, at=T0 + 10, host="probe-01")
    with pytest.raises(ScsTransportError):
        poller.poll()
    assert scs.calls == [] and poller.keyword is None
    scs.settings_error, scs.settings = None, {"es_keyword": "raw"}
    assert len(poller.poll()[0]) == 1 and scs.calls[0]["qfilter"] == 'app_proto:http AND host.raw:"probe-01"'


def test_pages_are_read_to_the_end(scs):
    alerts = scs.add(7, at=T0 + 10)
    poller = AlertPoller(scs, start_ms=T0, page_size=3)
    assert poller.poll() == (alerts, False)
    assert [call["page"] for call in scs.calls] == [1, 2, 3]


def test_alert_indexed_late_across_a_page_boundary_is_returned_once(scs):
    """An alert indexed while the poller pages, older than what it read, shifts the later pages: the poll sees one
    alert twice (skipped) and the late one not at all; the next poll's overlap reads it."""
    scs.add(4, at=T0 + 2000)
    poller = AlertPoller(scs, start_ms=T0, page_size=2, overlap_ms=10000)
    scs.before_page = lambda page: scs.add(1, at=T0 + 1000, prefix="late") if page == 2 else None
    first = poller.poll()[0]
    scs.before_page = None
    second = poller.poll()[0]
    assert ids(first) == ["a0", "a1", "a2", "a3"]
    assert ids(second) == ["late4"]
    assert poller.poll() == ([], False)


def test_identical_timestamps_are_told_apart_by_id(scs):
    scs.add(5, at=T0 + 7)
    poller = AlertPoller(scs, start_ms=T0, page_size=2)
    assert len(poller.poll()[0]) == 5
    more = scs.add(2, at=T0 + 7, prefix="b")
    assert poller.poll() == (more, False)


def test_result_window_is_crossed_by_polling_again_at_once():
    scs = FakeAlertsClient(window=10)
    every = []
    for step in range(25):
        every += scs.add(1, at=T0 + step * 10)
    poller = AlertPoller(scs, start_ms=T0, page_size=3, window=10)
    alerts, polls = drain(poller)
    assert ids(alerts) == ids(every)
    assert polls == 3 and all(call["page"] * 3 <= 10 for call in scs.calls)
    # the poll after a full window starts at the newest @timestamp read, not at hwm - overlap
    assert scs.calls[3]["from_date"] == T0 + 80
    # the next regular poll reads the overlap again, more than a window of it: every id in it is still known
    assert drain(poller)[0] == []


def test_more_alerts_in_one_millisecond_than_the_window_cannot_stall_the_poller():
    scs = FakeAlertsClient(window=10)
    scs.add(15, at=T0)
    after = scs.add(2, at=T0 + 5)
    warnings = []
    poller = AlertPoller(scs, start_ms=T0, page_size=5, window=10, warn=warnings.append)
    alerts, _polls = drain(poller)
    assert len(alerts) == 12 and ids(alerts)[-2:] == ids(after)
    assert [call["from_date"] for call in scs.calls if call["page"] == 1] == [T0, T0 + 1]
    assert "More than 10 alerts share @timestamp" in warnings[0]


def test_a_failed_poll_changes_nothing(scs):
    alerts = scs.add(5, at=T0 + 1)
    poller = AlertPoller(scs, start_ms=T0, page_size=2)
    scs.before_page = lambda page: scs.failures.append(ScsServerError("HTTP 503")) if page == 2 else None
    with pytest.raises(ScsServerError):
        poller.poll()
    scs.before_page = None
    assert poller.seen == {} and poller.hwm == T0
    assert poller.poll() == (alerts, False)


def test_seen_ids_are_forgotten_once_out_of_the_overlap(scs):
    poller = AlertPoller(scs, start_ms=T0, overlap_ms=1000)
    scs.add(3, at=T0 + 100)
    poller.poll()
    scs.add(1, at=T0 + 5000, prefix="n")
    poller.poll()
    assert list(poller.seen) == ["n3"]
    assert poller.next_from() == T0 + 5000 - 1000


def test_max_seen_bounds_memory_and_says_duplicates_may_follow(scs):
    warnings = []
    poller = AlertPoller(scs, start_ms=T0, overlap_ms=60000, max_seen=3, warn=warnings.append)
    for step in range(5):
        scs.add(1, at=T0 + step)
    assert len(poller.poll()[0]) == 5
    assert sorted(poller.seen.values()) == [T0 + 2, T0 + 3, T0 + 4]
    assert "raise max_seen" in warnings[0]


def test_raw_hits_are_unwrapped_and_alerts_without_id_skipped(scs):
    scs.docs.append({"_id": "h1", "_source": {"@timestamp": iso(T0 + 1), "host": "probe-01"}})
    scs.docs.append({"@timestamp": iso(T0 + 2), "host": "probe-01"})
    scs.docs.append({"_id": "h3", "@timestamp": "yesterday"})
    warnings = []
    poller = AlertPoller(scs, start_ms=T0, warn=warnings.append)
    assert poller.poll()[0] == [{"_id": "h1", "@timestamp": iso(T0 + 1), "host": "probe-01"}]
    assert len(warnings) == 2 and "without an _id" in warnings[0] and "h3" in warnings[1]


def test_state_round_trip_continues_without_duplicates(scs):
    scs.add(3, at=T0 + 10)
    poller = AlertPoller(scs, start_ms=T0)
    poller.poll()
    again = AlertPoller(scs, start_ms=T0 + 999999)
    again.restore(poller.state())
    assert again.poll() == ([], False)
    new = scs.add(1, at=T0 + 20)
    assert again.poll() == (new, False)


@pytest.mark.parametrize("junk", [None, "alert", 42, ["a"], True])
def test_a_result_that_is_not_an_alert_object_is_skipped_with_a_warning(scs, junk):
    """One malformed document must not fail this poll, nor every later one."""
    scs.junk = [junk]
    alerts = scs.add(2, at=T0 + 1)
    warnings = []
    poller = AlertPoller(scs, start_ms=T0, page_size=1, warn=warnings.append)
    assert drain(poller)[0] == alerts
    later = scs.add(1, at=T0 + 2)
    assert poller.poll() == (later, False)
    assert warnings and all("not an alert object (%s): %r" % (type(junk).__name__, junk) in w for w in warnings)


class Clock:
    """A settable clock (seconds) for the poller's ``now``."""

    def __init__(self, ms):
        self.ms = ms

    def __call__(self):
        return self.ms / 1000.0


FAR_FUTURE = 4102444800000  # 2100-01-01T00:00:00Z


def test_future_dated_alert_is_returned_once_and_does_not_move_the_mark(scs):
    clock = Clock(T0 + 10000)
    warnings = []
    poller = AlertPoller(scs, start_ms=T0, overlap_ms=60000, max_skew_ms=30000, now=clock, warn=warnings.append)
    bogus = scs.add(1, at=FAR_FUTURE, prefix="bogus", host="probe-01")
    normal = scs.add(1, at=T0 + 5000)
    assert ids(poller.poll()[0]) == ids(normal + bogus)
    assert poller.hwm == T0 + 5000  # the newest alert that is not future-dated, not 2100
    assert len(warnings) == 1 and "'bogus0'" in warnings[0] and "'probe-01'" in warnings[0]
    assert repr(iso(FAR_FUTURE)) in warnings[0] and "max_clock_skew=30s" in warnings[0]
    # later alerts are still read, even indexed late by most of the overlap, and the bogus one never again
    for step in range(1, 6):
        clock.ms = T0 + 10000 + step * 3600000
        later = scs.add(1, at=clock.ms - 1000, prefix="later")
        late = scs.add(1, at=clock.ms - 1000 - 55000, prefix="late")
        assert sorted(ids(poller.poll()[0])) == sorted(ids(later + late))
        assert poller.hwm == clock.ms - 1000
    assert len(warnings) == 1


def test_an_alert_within_the_skew_allowance_moves_the_mark_without_a_warning(scs):
    """SCS's clock a little ahead of this host's: its alerts are not future-dated."""
    clock = Clock(T0)
    warnings = []
    poller = AlertPoller(scs, start_ms=T0 - 1000, max_skew_ms=30000, now=clock, warn=warnings.append)
    ahead = scs.add(1, at=T0 + 29000)
    assert poller.poll() == (ahead, False) and poller.hwm == T0 + 29000 and warnings == []


def test_future_dated_alert_stays_known_across_a_saved_state(scs):
    clock = Clock(T0)
    scs.add(1, at=FAR_FUTURE, prefix="bogus")
    first = AlertPoller(scs, start_ms=T0 - 1000, now=clock)
    assert len(first.poll()[0]) == 1
    clock.ms = T0 + 86400000
    again = AlertPoller(scs, start_ms=clock.ms, now=clock)
    again.restore(first.state())
    new = scs.add(1, at=clock.ms - 5, prefix="new")
    assert drain(again)[0] == new


def test_a_saved_position_in_the_future_is_moved_back(scs):
    """A state_file written before the cap (or on a host whose clock was ahead) no longer hides new alerts."""
    clock = Clock(T0)
    warnings = []
    poller = AlertPoller(scs, start_ms=T0, max_skew_ms=30000, now=clock, warn=warnings.append)
    poller.restore({"version": 1, "hwm": FAR_FUTURE, "floor": T0 - 3600000, "resume_from": None, "seen": {"x": FAR_FUTURE}})
    assert poller.hwm == T0 and "moves back to this host's clock" in warnings[0]
    new = scs.add(1, at=T0 - 50000)  # indexed late: the whole overlap still applies
    assert poller.poll() == (new, False)


@pytest.mark.parametrize("state", [None, [], {"version": 9}, {"version": 1, "hwm": "x", "floor": 0, "seen": {}},
                                   {"version": 1, "hwm": 1, "floor": 0, "seen": {"a": True}}])
def test_restore_refuses_what_is_not_a_state(scs, state):
    with pytest.raises(ValueError):
        AlertPoller(scs).restore(state)


@pytest.mark.parametrize("args, expected", [
    ({}, None),
    ({"severity": 1}, "alert.severity:1"),
    ({"severity": "1, 2"}, "alert.severity:(1 OR 2)"),
    ({"signature_ids": [2029743, "2035465"]}, "alert.signature_id:(2029743 OR 2035465)"),
    ({"probes": 'probe-01,dmz "x"', "keyword": "raw"}, 'host.raw:("probe-01" OR "dmz \\"x\\"")'),
    ({"qfilter": "app_proto:http OR app_proto:tls", "severity": [1], "probes": ["p"], "keyword": "keyword"},
     '(app_proto:http OR app_proto:tls) AND alert.severity:1 AND host.keyword:"p"'),
    ({"probes": ["p"]}, None),  # the probes wait for SCS's keyword suffix
])
def test_filters_become_a_safe_qfilter(args, expected):
    assert alert_filter(**args) == expected


@pytest.mark.parametrize("args, message", [
    ({"severity": "1 OR *"}, "severity must be a whole number"),
    ({"signature_ids": [-1]}, "signature_ids must be a whole number"),
    ({"signature_ids": {"a": 1}}, "signature_ids must be a list"),
    ({"probes": ["ok", " "]}, "probes must be probe names"),
    ({"qfilter": "a) OR (b"}, "unbalanced"),
])
def test_bad_filters_are_refused(args, message):
    with pytest.raises(ScsConfigError, match=message.replace("(", "\\(")):
        alert_filter(**args)


def test_page_size_is_checked(scs):
    with pytest.raises(ScsConfigError, match="page_size must be between 1 and 10000"):
        AlertPoller(scs, page_size=0)
