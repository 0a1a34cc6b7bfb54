import re

import pytest

from ansible_collections.stamus.scs.plugins.module_utils._alerts import (
    alert_queries,
    alert_query_params,
    check_alert_id,
    event_flags,
    id_batches,
    lucene_quote,
    normalize_alert,
    parse_since,
    parse_time,
    time_window,
)
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsProtocolError

NOW = 1777716000  # 2026-05-02T10:00:00Z


ALERTS_ONLY = {"alert": "true", "stamus": "false", "discovery": "false"}
EVERY_KIND = {"alert": "true", "stamus": "true", "discovery": "true"}


def test_vendor_query_is_built_from_validated_integers():
    params = alert_query_params(signature_id=2029743, flow_id=2077942411095108)
    assert params == dict(ALERTS_ONLY, qfilter="alert.signature_id:2029743 AND flow_id:2077942411095108")


def test_user_qfilter_is_parenthesised_and_probe_quoted_on_the_exact_sub_field():
    params = alert_query_params(qfilter="alert.severity:1 OR app_proto:http", probe='pro"be 1\\')
    assert params["qfilter"] == '(alert.severity:1 OR app_proto:http) AND host.raw:"pro\\"be 1\\\\"'
    assert alert_query_params(probe="probe-01", keyword="keyword")["qfilter"] == 'host.keyword:"probe-01"'
    with pytest.raises(ScsConfigError, match="plain name"):
        alert_query_params(probe="probe-01", keyword="raw OR *")
    with pytest.raises(ScsConfigError, match="probe must be a probe name"):
        alert_query_params(probe=" ")


@pytest.mark.parametrize("kinds, for_ids, flags", [
    (None, False, ALERTS_ONLY),
    (None, True, EVERY_KIND),
    (["doc"], False, {"alert": "false", "stamus": "true", "discovery": "false"}),
    (["sightings", "alerts"], True, {"alert": "true", "stamus": "false", "discovery": "true"}),
])
def test_event_kinds_become_three_explicit_flags(kinds, for_ids, flags):
    assert event_flags(kinds, for_ids) == flags
    assert alert_query_params(event_kinds=kinds, for_ids=for_ids) == flags


@pytest.mark.parametrize("kinds", [[], ["alert"], ["doc", "DoC"]])
def test_bad_event_kinds_are_refused(kinds):
    with pytest.raises(ScsConfigError, match="event_kinds must list one or more of alerts, doc, sightings"):
        event_flags(kinds)


@pytest.mark.parametrize("name, value", [
    ("signature_id", -1), ("flow_id", -5), ("signature_id", 2 ** 32), ("flow_id", True), ("flow_id", "1 OR *"),
])
def test_ids_must_be_non_negative_integers(name, value):
    with pytest.raises(ScsConfigError, match=name):
        alert_query_params(**{name: value})


def test_lucene_quote_neutralises_syntax():
    assert lucene_quote('a" OR host:*') == '"a\\" OR host:*"'


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("15m", 900), ("24h", 86400), ("7d", 604800), ("2w", 1209600)])
def test_since(text, seconds):
    assert parse_since(text) == seconds


@pytest.mark.parametrize("text", ["24", "h", "-1h", "0h", "1y", "1.5h"])
def test_bad_since_names_the_format(text):
    with pytest.raises(ScsConfigError, match="since must be"):
        parse_since(text)


@pytest.mark.parametrize("text, ms", [
    ("2026-05-02T10:00:00Z", NOW * 1000),
    ("2026-05-02T12:00:00+02:00", NOW * 1000),
    ("2026-05-02T10:00:00", NOW * 1000),
    (str(NOW), NOW * 1000),
    (str(NOW * 1000), NOW * 1000),
    ("1777716000.5", NOW * 1000 + 500),
])
def test_absolute_times(text, ms):
    assert parse_time("from", text) == ms


def test_bad_time_names_the_option():
    with pytest.raises(ScsConfigError, match="to must be an ISO 8601"):
        parse_time("to", "yesterday")


def test_window_relative_to_now():
    assert time_window(since="1h", now=NOW) == ((NOW - 3600) * 1000, None)
    assert alert_query_params(since="1h", to_time=str(NOW), now=NOW) == dict(
        ALERTS_ONLY, from_date=(NOW - 3600) * 1000, to_date=NOW * 1000)


def test_window_errors():
    with pytest.raises(ScsConfigError, match="not both"):
        time_window(since="1h", from_time=str(NOW), now=NOW)
    with pytest.raises(ScsConfigError, match="future"):
        time_window(from_time=str(NOW + 3600), now=NOW)
    with pytest.raises(ScsConfigError, match="reversed"):
        time_window(from_time=str(NOW - 10), to_time=str(NOW - 20), now=NOW)


@pytest.mark.parametrize("window", [
    {"from_time": str(NOW), "to_time": str(NOW)},  # empty
    {"from_time": str(NOW)},  # starts now: SCS's end is its clock
    {"since": "1h", "to_time": str(NOW - 7200)},
    {"to_time": str(NOW - 31 * 86400)},  # SCS's default start (30 days ago) is after that end
])
def test_no_window_that_scs_would_turn_into_the_last_hour(window):
    """SCS answers from >= to with the hour before to, silently: such windows are refused before any call."""
    with pytest.raises(ScsConfigError, match="last hour|hour before to"):
        time_window(now=NOW, **window)


def test_windows_that_scs_keeps():
    assert time_window(to_time=str(NOW - 29 * 86400), now=NOW) == (None, (NOW - 29 * 86400) * 1000)
    assert time_window(from_time="0", to_time=str(NOW - 365 * 86400), now=NOW) == (0, (NOW - 365 * 86400) * 1000)
    assert time_window(from_time=str(NOW - 1), now=NOW) == ((NOW - 1) * 1000, None)


def test_no_filter_sends_only_the_event_flags():
    assert alert_query_params() == ALERTS_ONLY


def test_raw_hits_are_unwrapped():
    assert normalize_alert({"_id": "a1", "_source": {"host": "p1", "flow_id": 3}}) == {"_id": "a1", "host": "p1", "flow_id": 3}
    flat = {"_id": "a1", "host": "p1"}
    assert normalize_alert(flat) is flat
    with pytest.raises(ScsProtocolError):
        normalize_alert(["not", "a", "dict"])


@pytest.mark.parametrize("qfilter, problem", [
    ("a) OR (b", "unbalanced ')'"), ("x)", "unbalanced ')'"), ("(a", "unbalanced '('"),
    ('host:"probe) OR (x', "unbalanced quote"), ("a\\", "lone backslash"), ('x:/"/ ) OR *:* OR ( x:/"/', "unbalanced ')'"),
])
def test_qfilter_cannot_escape_its_parentheses(qfilter, problem):
    with pytest.raises(ScsConfigError, match=r"^qfilter (has an?|ends with a) %s.* at position \d+ " % re.escape(problem)):
        alert_query_params(qfilter=qfilter, probe="probe-01")


@pytest.mark.parametrize("qfilter", ['(a OR b) AND NOT c', 'sig:"weird ) value"', "path:a\\)b", "[1 TO 5]"])
def test_balanced_qfilters_pass(qfilter):
    assert alert_query_params(qfilter=qfilter)["qfilter"] == "(%s)" % qfilter


def test_alert_ids_become_one_quoted_id_clause_over_all_of_time():
    queries = alert_queries({"alert_ids": ["-lead", "b_2", "-lead"], "probe": "probe-01", "flow_id": 7}, now=NOW)
    # A leading "-" would be Lucene's NOT: every id is quoted. Duplicates are asked once.
    # An id names one event whatever its kind: every kind is looked up, unless event_kinds says otherwise.
    assert queries == [dict(EVERY_KIND, qfilter='flow_id:7 AND host.raw:"probe-01" AND _id:("-lead" OR "b_2")',
                            from_date=0)]
    assert alert_queries({"alert_ids": ["a"], "since": "1h"}, now=NOW)[0]["from_date"] == (NOW - 3600) * 1000
    assert alert_queries({"alert_ids": ["a"], "event_kinds": ["doc"]}, now=NOW)[0]["stamus"] == "true"
    assert alert_queries({"alert_ids": ["a"], "event_kinds": ["doc"]}, now=NOW)[0]["alert"] == "false"
    assert alert_queries({"alert_ids": []}, now=NOW) == []
    assert alert_queries({"signature_id": 3}, now=NOW) == [dict(ALERTS_ONLY, qfilter="alert.signature_id:3")]
    assert alert_queries({"probe": "p"}, now=NOW, keyword="keyword")[0]["qfilter"] == 'host.keyword:"p"'


def test_long_id_lists_are_batched():
    ids = ["id%04d" % number for number in range(120)]
    batches = id_batches(ids)
    assert [len(batch) for batch in batches] == [50, 50, 20] and sum(batches, []) == ids
    long_ids = ["x" * 250] * 20
    assert all(sum(len(alert_id) for alert_id in batch) <= 2000 for batch in id_batches(long_ids))
    assert len(alert_queries({"alert_ids": ids}, now=NOW)) == 3


@pytest.mark.parametrize("value", ["", "a b", "a/b", "x" * 251, "{{ lookup('pipe', 'id') }}", "abc\n", 12, None,
                                   "a\u00e9"])
def test_alert_ids_are_checked_by_full_match(value):
    with pytest.raises(ScsConfigError, match="alert_ids must be an SCS alert _id"):
        alert_queries({"alert_ids": ["good", value]})
    with pytest.raises(ScsConfigError):
        check_alert_id(value)


def test_good_alert_ids_pass():
    for value in ("Xk3aQ4kBWK2kIefhuEoN", "-", "_", "x" * 250):
        assert check_alert_id(value) == value


def test_severity_and_signature_lists_are_any_of_checked_numbers():
    params = alert_query_params(signature_id=[2029743, 2035465, 2029743], severity=[1], qfilter="app_proto:http")
    assert params["qfilter"] == "(app_proto:http) AND alert.signature_id:(2029743 OR 2035465) AND alert.severity:1"
    assert alert_query_params(signature_id=2029743)["qfilter"] == "alert.signature_id:2029743"
    assert "qfilter" not in alert_query_params(signature_id=[], severity=[])
    with pytest.raises(ScsConfigError, match="severity must be a whole number between 0 and 255"):
        alert_query_params(severity=[1, 256])
