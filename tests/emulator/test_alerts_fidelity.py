"""alerts_tail as Scirius's code has it: event kinds behind flags, the analysed host field and its keyword
sub-fields, system_settings' es_keyword, raw hits."""

import pytest

from scs_emulator.qfilter import compile_query
from scs_emulator.esquery import event_type_clause

TAIL = "/rest/rules/es/alerts_tail/"
FLAGS = ("alert", "stamus", "discovery")


@pytest.mark.parametrize("flags, clause", [
    ({}, "(event_type:alert AND NOT discovery:*)"),
    ({"alert": "false", "discovery": "true"}, "(event_type:alert AND discovery:*)"),
    ({"discovery": "1"}, "event_type:alert"),
    ({"alert": "0", "stamus": "true"}, "event_type:stamus"),
    ({"alert": "true", "stamus": "TRUE", "discovery": "true"}, "(event_type:alert OR event_type:stamus)"),
    ({"stamus": "yes"}, "((event_type:alert AND NOT discovery:*) OR event_type:stamus)"),
    ({"alert": "False"}, ""),
])
def test_event_type_clause_is_sciriuss(flags, clause):
    assert event_type_clause(flags) == clause


def test_doc_and_sightings_are_served_only_per_their_flags(fresh_emu):
    [doc] = fresh_emu.add_alerts(probe="probe-01", kind="doc")
    [sighting] = fresh_emu.add_alerts(probe="probe-01", kind="sighting")
    assert doc["event_type"] == "stamus" and doc["stamus"]["threat_name"] and doc["alert"]["signature_id"]
    assert doc["capture_file"] and doc["flow_id"] and doc["src_ip"]  # probe-01 has conditional pcap: a pcap to fetch
    assert sighting["event_type"] == "alert"
    assert set(sighting["discovery"]) == {"asset_role", "key", "asset", "value", "asset_net"}

    def ids(**flags):
        return {alert["_id"] for alert in fresh_emu.alerts(**flags)}

    default = ids()
    assert len(default) == 250 and not {doc["_id"], sighting["_id"]} & default
    assert ids(alert="true", stamus="false", discovery="false") == default
    assert ids(alert="false", discovery="true") == {sighting["_id"]}
    assert ids(alert="false", stamus="true") == {doc["_id"]}
    assert ids(alert="true", stamus="true", discovery="true") == default | {doc["_id"], sighting["_id"]}
    assert ids(alert="false", stamus="true", qfilter="stamus.threat_name:%s" % doc["stamus"]["threat_name"].split()[0]) \
        == {doc["_id"]}
    # The user's qfilter is appended after the type clause, so the flags still apply to it.
    assert fresh_emu.alerts('_id:"%s"' % doc["_id"]) == []
    flow = fresh_emu.rest("GET", "/rest/rules/es/events_from_flow_id/", params={"qfilter": "flow_id:%d" % doc["flow_id"]})
    assert flow.json()["Stamus"] == [{key: value for key, value in doc.items() if key != "_id"}]  # no _id, as ES _source
    assert fresh_emu.expected_pcap(doc["_id"])[:4] == b"\xd4\xc3\xb2\xa1"


def test_host_is_analysed_text_and_its_keyword_sub_fields_are_exact(fresh_emu):
    fresh_emu.rename_probe("probe-03", "probe-01-dmz")
    dmz = fresh_emu.add_alerts(probe="probe-01-dmz", count=2)
    assert {alert["host"] for alert in dmz} == {"probe-01-dmz"}
    hosts = {alert["host"] for alert in fresh_emu.alerts('host:"probe-01"')}
    assert hosts == {"probe-01", "probe-01-dmz"}  # a phrase on the analysed field: its tokens probe, 01
    assert {alert["host"] for alert in fresh_emu.alerts("host:PROBE-01")} == {"probe-01", "probe-01-dmz"}
    for suffix in ("raw", "keyword"):
        assert {alert["host"] for alert in fresh_emu.alerts('host.%s:"probe-01"' % suffix)} == {"probe-01"}
        assert fresh_emu.alerts('host.%s:"PROBE-01"' % suffix) == []
    assert fresh_emu.alerts('host.exact:"probe-01"') == []  # no such sub-field
    fresh_emu.configure(analysed_subfields=True)
    assert {alert["host"] for alert in fresh_emu.alerts('host.raw:"probe-01"')} == {"probe-01", "probe-01-dmz"}


def test_text_tokens():
    doc = {"alert": {"signature": "ET MALWARE Win32/Emotet CnC Beacon"}, "host": "probe-01-dmz", "_id": "t1"}
    assert compile_query('alert.signature:"win32 emotet"')(doc)
    assert compile_query('alert.signature:"Emotet CnC"')(doc)
    assert not compile_query('alert.signature:"Emotet Beacon"')(doc)  # not a run
    assert not compile_query('alert.signature:"Emo"')(doc)  # not a token
    assert compile_query('host:"01-dmz"')(doc) and not compile_query('host:"dmz-01"')(doc)
    assert not compile_query('host.raw:"probe-01"')(doc)
    assert compile_query('host.raw:"probe-01"', analysed_subfields=True)(doc)


def test_system_settings_reports_es_keyword(fresh_emu):
    body = fresh_emu.rest("GET", "/rest/rules/system_settings/").json()
    assert body["es_keyword"] == "keyword" and "elasticsearch_url" in body and "elasticsearch_pass" not in body
    assert fresh_emu.rest("GET", "/rest/rules/system_settings/", token=fresh_emu.readonly_token).status_code == 200
    assert fresh_emu.rest("GET", "/rest/rules/system_settings/", token="nope").status_code == 403
    fresh_emu.configure(es_keyword="raw")
    assert fresh_emu.rest("GET", "/rest/rules/system_settings/").json()["es_keyword"] == "raw"


def test_raw_hits_as_before_mid_2022(fresh_emu):
    flat = fresh_emu.rest("GET", TAIL, params={"page_size": 3}).json()["results"]
    fresh_emu.configure(raw_hits=True)
    hits = fresh_emu.rest("GET", TAIL, params={"page_size": 3}).json()["results"]
    assert [hit["_id"] for hit in hits] == [alert["_id"] for alert in flat]
    for hit, alert in zip(hits, flat):
        assert set(hit) == {"_index", "_type", "_id", "_score", "_source", "sort"}
        assert hit["_source"] == {key: value for key, value in alert.items() if key != "_id"}
        assert hit["_index"].startswith("logstash-alert-")


def test_legacy_serves_raw_hits():
    from scs_emulator.testing import Emulator  # pylint: disable=import-outside-toplevel

    with Emulator(tls=False, legacy=True, alerts=4, flows=2) as old:
        hits = old.rest("GET", TAIL).json()["results"]
        assert len(hits) == 4 and all("_source" in hit and "host" not in hit for hit in hits)
