"""alerts_tail, alerts_count, events_from_flow_id: envelope, pagination, window, qfilter."""

import datetime
import time

import pytest

from scs_emulator.qfilter import QueryError, compile_query

TAIL = "/rest/rules/es/alerts_tail/"


def stamp_ms(alert):
    return int(datetime.datetime.fromisoformat(alert["@timestamp"].replace("Z", "+00:00")).timestamp() * 1000)


def test_envelope_and_alert_document(emu):
    resp = emu.rest("GET", TAIL, params={"page_size": 5})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 250
    assert body["previous"] is None
    assert body["next"].startswith(emu.url + TAIL) and "page=2" in body["next"]
    assert len(body["results"]) == 5
    stamps = [a["@timestamp"] for a in body["results"]]
    assert stamps == sorted(stamps, reverse=True)
    for alert in body["results"]:
        for key in ("_id", "@timestamp", "timestamp", "flow_id", "event_type", "src_ip", "src_port", "dest_ip",
                    "dest_port", "proto", "app_proto", "alert", "flow", "host"):
            assert key in alert, key
        assert alert["event_type"] == "alert"
        assert 0 < alert["flow_id"] < 2 ** 51
        assert alert["alert"]["severity"] in (1, 2, 3)
        assert set(alert["alert"]) >= {"action", "gid", "signature_id", "rev", "signature", "category", "severity", "metadata"}
        assert alert["@timestamp"].endswith("Z")


def test_default_page_size_and_walk(emu):
    body = emu.rest("GET", TAIL).json()
    assert len(body["results"]) == 30
    ids = set()
    page = 1
    while True:
        body = emu.rest("GET", TAIL, params={"page": page, "page_size": 100}).json()
        ids.update(a["_id"] for a in body["results"])
        if not body["next"]:
            break
        page += 1
    assert len(ids) == 250 and page == 3
    assert body["previous"] is not None


def test_page_past_end_and_window(emu):
    # Scirius's ESPaginator never raises NotFound: past the last hit, ES returns no hits.
    resp = emu.rest("GET", TAIL, params={"page": 99, "page_size": 30})
    assert resp.status_code == 200
    body = resp.json()
    assert body["results"] == [] and body["next"] is None and body["count"] == 250 and "page=98" in body["previous"]
    last = emu.rest("GET", TAIL, params={"page": 9, "page_size": 30}).json()
    assert len(last["results"]) == 10 and last["next"] is None
    assert emu.rest("GET", TAIL, params={"page": 0}).json()["detail"].startswith("ES failure: [from] parameter")
    assert emu.rest("GET", TAIL, params={"page": "two"}).status_code == 500  # int() raises: Django's HTML 500
    resp = emu.rest("GET", TAIL, params={"page": 2, "page_size": 5001})
    assert resp.status_code == 500
    assert resp.json()["detail"].startswith("ES failure: Result window is too large")
    assert emu.rest("GET", TAIL, params={"page": 1, "page_size": 10000}).status_code == 200


def test_ordering(emu):
    resp = emu.rest("GET", TAIL, params={"ordering": "@timestamp;drop"})
    assert resp.status_code == 400 and resp.json() == "Wrong ordering value: @timestamp;drop"  # a bare JSON string
    body = emu.rest("GET", TAIL, params={"ordering": "@timestamp", "page_size": 50}).json()
    stamps = [a["@timestamp"] for a in body["results"]]
    assert stamps == sorted(stamps)
    body = emu.rest("GET", TAIL, params={"ordering": "-alert.severity", "page_size": 250}).json()
    sev = [a["alert"]["severity"] for a in body["results"]]
    assert sev == sorted(sev, reverse=True)


def test_qfilter_signature_and_flow(emu):
    alerts = emu.alerts()
    target = alerts[10]
    q = "alert.signature_id:%d AND flow_id:%d" % (target["alert"]["signature_id"], target["flow_id"])
    found = emu.alerts(q)
    assert target["_id"] in [a["_id"] for a in found]
    assert all(a["flow_id"] == target["flow_id"] for a in found)
    expected = [a for a in alerts if a["flow_id"] == target["flow_id"] and a["alert"]["signature_id"] == target["alert"]["signature_id"]]
    assert len(found) == len(expected)


def test_shared_flows_exist(emu):
    by_flow = {}
    for alert in emu.alerts():
        by_flow.setdefault(alert["flow_id"], []).append(alert)
    shared = [v for v in by_flow.values() if len(v) > 1]
    assert shared, "several alerts must share a flow"
    for group in shared:
        assert len({a["host"] for a in group}) == 1


def test_qfilter_syntax(emu):
    alerts = emu.alerts()
    host_q = emu.alerts("host:probe\\-01")
    assert host_q and all(a["host"] == "probe-01" for a in host_q)
    assert len(emu.alerts('host:"probe-01"')) == len(host_q)
    assert len(emu.alerts("host:probe-0*")) == 250
    assert emu.alerts("nosuchfield:1") == []
    sev1 = [a for a in alerts if a["alert"]["severity"] == 1]
    assert len(emu.alerts("alert.severity:1")) == len(sev1)
    assert len(emu.alerts("alert.severity:[2 TO 3]")) == 250 - len(sev1)
    assert len(emu.alerts("alert.severity:{1 TO *}")) == 250 - len(sev1)
    assert len(emu.alerts("NOT alert.severity:1")) == 250 - len(sev1)
    both = emu.alerts("host:probe-01 alert.severity:1")  # implicit AND
    assert len(both) == len([a for a in sev1 if a["host"] == "probe-01"])
    either = emu.alerts("(host:probe-01 OR host:probe-02) AND -alert.severity:1")
    assert len(either) == len([a for a in alerts if a["host"] in ("probe-01", "probe-02") and a["alert"]["severity"] != 1])
    v6 = [a for a in alerts if ":" in a["src_ip"]]
    assert v6, "the seed has IPv6 flows"
    ip = v6[0]["src_ip"]
    assert v6[0]["_id"] in [a["_id"] for a in emu.alerts('src_ip:"%s"' % ip)]
    assert v6[0]["_id"] in [a["_id"] for a in emu.alerts("src_ip:%s" % ip.replace(":", "\\:"))]
    assert len(emu.alerts("_exists_:capture_file")) == len([a for a in alerts if "capture_file" in a])


def test_bad_query_is_an_es_failure(emu):
    resp = emu.rest("GET", TAIL, params={"qfilter": "a:(b"})
    assert resp.status_code == 500
    assert resp.json()["detail"].startswith("ES failure")


def test_date_filters(emu):
    now_ms = int(time.time() * 1000)
    day = emu.rest("GET", TAIL, params={"from_date": now_ms - 24 * 3600 * 1000, "to_date": now_ms, "page_size": 1}).json()["count"]
    assert 0 < day < 250
    same = emu.rest("GET", TAIL, params={"start_date": now_ms // 1000 - 24 * 3600, "end_date": now_ms // 1000, "page_size": 1}).json()["count"]
    assert abs(same - day) <= 1
    assert emu.rest("GET", TAIL, params={"to_date": now_ms - 10 * 24 * 3600 * 1000}).json()["count"] == 0
    assert emu.rest("GET", TAIL, params={"from_date": "soon"}).status_code == 500  # int() raises, uncaught in SCS
    # from_date wins over start_date
    assert emu.rest("GET", TAIL, params={"from_date": now_ms - 24 * 3600 * 1000, "start_date": 0, "page_size": 1}).json()["count"] == day


def test_a_start_at_or_after_the_end_silently_means_the_last_hour(emu):
    alerts = emu.alerts()
    newest = max(alerts, key=lambda a: a["@timestamp"])
    end = int(datetime.datetime.fromisoformat(newest["@timestamp"].replace("Z", "+00:00")).timestamp() * 1000) + 1
    hour = [a for a in alerts if end - 3600 * 1000 <= stamp_ms(a) <= end]
    for start in (end, end + 10 ** 9):
        body = emu.rest("GET", TAIL, params={"from_date": start, "to_date": end, "page_size": 1000}).json()
        assert body["count"] == len(hour) and newest["_id"] in [a["_id"] for a in body["results"]]


def test_alerts_count_and_events_from_flow(emu):
    resp = emu.rest("GET", "/rest/rules/es/alerts_count/", params={"qfilter": "host:probe-02"})
    assert resp.json()["doc_count"] == len(emu.alerts("host:probe-02"))
    resp = emu.rest("GET", "/rest/rules/es/alerts_count/", params={"prev": 1})
    assert set(resp.json()) == {"doc_count", "prev_doc_count"}
    alert = emu.alerts()[0]
    body = emu.rest("GET", "/rest/rules/es/events_from_flow_id/", params={"qfilter": "flow_id:%d" % alert["flow_id"]}).json()
    assert "Alert" in body and set(body) <= {"Alert", "Stamus", "Flow", "Fileinfo", "Http", "Tls", "Dns", "Ssh", "Smb"}
    assert {key: value for key, value in alert.items() if key != "_id"} in body["Alert"]
    assert all(a["flow_id"] == alert["flow_id"] for a in body["Alert"])


def test_capture_file_only_with_conditional_pcap(emu):
    state = {p["name"]: p for p in emu.state()["probes"]}
    assert [state[n]["applied_pcap"] for n in ("probe-01", "probe-02", "probe-03")] == [True, False, True]
    for alert in emu.alerts():
        if state[alert["host"]]["applied_pcap"]:
            assert alert["capture_file"].startswith("/var/log/suricata/fpc/log-")
        else:
            assert "capture_file" not in alert


def test_qfilter_unit():
    doc = {"host": "probe-01", "flow_id": 2077942411095108, "alert": {"signature": "ET MALWARE Win32/Emotet CnC", "severity": 1},
           "src_ip": "10.1.2.3", "tags": ["a", "b"]}
    assert compile_query("flow_id:2077942411095108")(doc)
    assert not compile_query("flow_id:2077942411095109")(doc)
    assert compile_query('alert.signature:"Win32/Emotet"')(doc)
    assert compile_query("alert.signature.raw:\"ET MALWARE Win32/Emotet CnC\"")(doc)
    assert not compile_query("alert.signature.raw:Emotet")(doc)
    assert compile_query('src_ip:"10.0.0.0/8"')(doc)
    assert compile_query("tags:b AND alert.severity:<2")(doc)
    assert compile_query("Emotet")(doc)
    assert compile_query("host:/probe-[0-9]+/")(doc)
    with pytest.raises(QueryError):
        compile_query("a AND (")


def test_qfilter_id_is_an_exact_keyword():
    doc = {"_id": "Ab-cd_1", "host": "probe-01"}
    assert compile_query('_id:"Ab-cd_1"')(doc)
    assert compile_query('_id:("zz" OR "Ab-cd_1") AND host:"probe-01"')(doc)
    # Elasticsearch's _id is not analysed: no case folding, no match on a part of the id.
    assert not compile_query('_id:"ab-cd_1"')(doc)
    assert not compile_query('_id:"Ab"')(doc)
    assert not compile_query('_id:"cd_1"')(doc)
