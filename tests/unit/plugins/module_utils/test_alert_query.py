"""query_alerts on a real ScsClient over a fake transport: the exact probe filter and its keyword suffix, the
alerts of other probes left out, event kinds, raw hits, the page past the end and the bare-string 400."""

import json
from urllib.parse import parse_qs, urlparse

import pytest

from ansible_collections.stamus.scs.plugins.module_utils._alerts import query_alerts, read_keyword_suffix
from ansible_collections.stamus.scs.plugins.module_utils._client import ScsClient
from ansible_collections.stamus.scs.plugins.module_utils._errors import (
    ScsAuthenticationError,
    ScsServerError,
    ScsValidationError,
)

TOKEN = "tok-unit-query-7d1e0a"
ALERTS = "/rest/rules/es/alerts_tail/"
SETTINGS = "/rest/rules/system_settings/"
OPTIONS = {"page_size": 100}


def client():
    return ScsClient("https://scs.example.net", TOKEN, retries=0)


def page(results, count=None, more=False):
    return {"count": len(results) if count is None else count, "next": "https://scs/x?page=2" if more else None,
            "previous": None, "results": results}


def sent(request):
    return {key: values[0] for key, values in parse_qs(urlparse(request.url).query).items()}


def alert_calls(fake_server):
    return [sent(call) for call in fake_server.calls if urlparse(call.url).path == ALERTS]


@pytest.mark.parametrize("es_keyword", ["raw", "keyword"])
def test_probe_filter_is_on_the_keyword_sub_field_scs_names(fake_server, es_keyword):
    fake_server.add("GET", SETTINGS, json={"id": 1, "es_keyword": es_keyword, "kibana": False})
    fake_server.add("GET", ALERTS, json=page([{"_id": "a", "host": "probe-01"}]))
    found = query_alerts(client(), dict(OPTIONS, probe="probe-01"))
    assert [alert["_id"] for alert in found.alerts] == ["a"] and found.dropped == 0 and found.warnings == []
    assert alert_calls(fake_server)[0]["qfilter"] == 'host.%s:"probe-01"' % es_keyword
    assert [urlparse(call.url).path for call in fake_server.calls] == [SETTINGS, ALERTS]


def test_no_settings_call_without_a_probe(fake_server):
    fake_server.add("GET", ALERTS, json=page([]))
    query_alerts(client(), dict(OPTIONS, signature_id=[1]))
    assert [urlparse(call.url).path for call in fake_server.calls] == [ALERTS]


def test_alerts_of_other_probes_are_dropped_counted_and_named(fake_server):
    """A server whose filter over-matches (a phrase on the analysed host field): only probe-01's alerts are kept."""
    fake_server.add("GET", SETTINGS, json={"es_keyword": "keyword"})
    results = [{"_id": "a", "host": "probe-01"}, {"_id": "b", "host": "probe-01-dmz"}, {"_id": "c", "host": "PROBE-01"},
               {"_id": "d", "host": "probe-01"}, {"_id": "e"}]
    fake_server.add("GET", ALERTS, json=page(results))
    found = query_alerts(client(), dict(OPTIONS, probe="probe-01"))
    assert [alert["_id"] for alert in found.alerts] == ["a", "d"] and found.dropped == 3
    [warning] = found.warnings
    assert warning.startswith("SCS returned 3 alert(s) of other probes than 'probe-01' ('probe-01-dmz', 'PROBE-01', None)")
    assert "host.keyword" in warning and "es_keyword" in warning


def test_a_dropped_alert_id_is_not_found(fake_server):
    fake_server.add("GET", SETTINGS, json={"es_keyword": "raw"})
    fake_server.add("GET", ALERTS, json=page([{"_id": "a", "host": "probe-01-dmz"}]))
    found = query_alerts(client(), dict(OPTIONS, probe="probe-01", alert_ids=["a"]))
    assert found.alerts == [] and found.not_found == ["a"] and found.dropped == 1


@pytest.mark.parametrize("answer, reason", [
    ({"status": 404, "json": {"detail": "Not found."}}, "HTTP 404"),
    ({"status": 403, "json": {"detail": "You do not have permission to perform this action."}}, "HTTP 403"),
    ({"json": {"es_keyword": "raw OR host:*"}}, "holds no usable es_keyword"),
    ({"json": {"es_keyword": 7}}, "holds no usable es_keyword"),
    ({"json": ["not", "settings"]}, "holds no usable es_keyword"),
])
def test_unreadable_keyword_suffix_falls_back_to_raw(fake_server, answer, reason):
    fake_server.add("GET", SETTINGS, **answer)
    suffix, why = read_keyword_suffix(client())
    assert suffix == "raw" and reason in why
    fake_server.add("GET", ALERTS, json=page([]))
    found = query_alerts(client(), dict(OPTIONS, probe="probe-01"))
    assert alert_calls(fake_server)[0]["qfilter"] == 'host.raw:"probe-01"'
    # It matters only when nothing matched: then the warning says which field was used and how to let SCS say.
    [warning] = found.warnings
    assert "host.raw" in warning and reason in warning and "rules/system_settings/" in warning


def test_unreadable_keyword_suffix_is_not_mentioned_when_alerts_match(fake_server):
    fake_server.add("GET", SETTINGS, status=404, json={"detail": "Not found."})
    fake_server.add("GET", ALERTS, json=page([{"_id": "a", "host": "probe-01"}]))
    assert query_alerts(client(), dict(OPTIONS, probe="probe-01")).warnings == []


def test_refused_token_on_the_settings_is_raised(fake_server):
    fake_server.add("GET", SETTINGS, status=403, json={"detail": "Invalid token."})
    with pytest.raises(ScsAuthenticationError):
        read_keyword_suffix(client())


def test_strict_reading_raises_what_may_pass(fake_server):
    fake_server.add("GET", SETTINGS, status=503, json={"detail": "down"})
    with pytest.raises(ScsServerError):
        read_keyword_suffix(client(), strict=True)
    assert read_keyword_suffix(client())[0] == "raw"


def test_event_kinds_are_sent_as_three_flags(fake_server):
    doc = {"_id": "d", "event_type": "stamus", "stamus": {"threat_name": "x"}, "host": "probe-01"}
    fake_server.add("GET", ALERTS, json=page([doc]))
    found = query_alerts(client(), dict(OPTIONS, event_kinds=["doc", "sightings"]))
    assert found.alerts == [doc]
    assert {key: alert_calls(fake_server)[0][key] for key in ("alert", "stamus", "discovery")} == {
        "alert": "false", "stamus": "true", "discovery": "true"}


def test_raw_hits_of_older_scs_are_unwrapped(fake_server):
    hits = [{"_index": "logstash-alert-2026.05.02", "_type": "_doc", "_id": "a", "_score": None,
             "_source": {"host": "probe-01", "flow_id": 3}, "sort": [1]}]
    fake_server.add("GET", SETTINGS, json={"es_keyword": "raw"})
    fake_server.add("GET", ALERTS, json=page(hits))
    found = query_alerts(client(), dict(OPTIONS, probe="probe-01"))
    assert found.alerts == [{"_id": "a", "host": "probe-01", "flow_id": 3}] and found.dropped == 0


def test_a_page_past_the_end_ends_paging(fake_server):
    """alerts_tail answers a page past the end with 200 and empty results (never 404): reading stops there."""
    pages = iter([page([{"_id": "a"}, {"_id": "b"}], count=3, more=True), page([], count=3)])
    fake_server.add("GET", ALERTS, handler=lambda request: (200, json.dumps(next(pages)).encode(),
                                                            {"Content-Type": "application/json"}))
    found = query_alerts(client(), {"page_size": 2})
    assert [alert["_id"] for alert in found.alerts] == ["a", "b"] and found.total == 3
    assert [call["page"] for call in alert_calls(fake_server)] == ["1", "2"]


def test_bare_string_400_is_reported_as_scs_said(fake_server):
    fake_server.add("GET", ALERTS, status=400, body=b'"Wrong ordering value: x;y"',
                    headers={"Content-Type": "application/json"})
    with pytest.raises(ScsValidationError) as raised:
        client().get_json("rules/es/alerts_tail/", {"ordering": "x;y"})
    message = str(raised.value)
    assert message == ("GET /rest/rules/es/alerts_tail/: HTTP 400 (Wrong ordering value: x;y). SCS rejected the request "
                       "as it said.")
    assert raised.value.to_result()["api_detail"] == "Wrong ordering value: x;y"
