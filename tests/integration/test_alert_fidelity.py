"""What the public code of SCS shows about alerts_tail, through real playbooks over HTTPS against the emulator (which
follows that code): the exact probe filter (probe-01 is not probe-01-dmz), Declarations of Compromise and Sightings
behind event_kinds (their pcaps fetched too), raw hits of older SCS, a page past the end, the bare-string 400 and the
windows SCS would silently turn into the last hour."""

import collections
import json
import os
import subprocess
import time
import urllib.parse

import pytest

from runner import BIN, TOKEN_MARKER, Emulator, ansible_env, run_tasks

ALERTS_PATH = "/rest/rules/es/alerts_tail/"
SETTINGS_PATH = "/rest/rules/system_settings/"
NO_ROTATION = ("--pcap-total-size", "100000000")


@pytest.fixture(scope="module")
def site():
    """3 capturing probes, probe-03 renamed probe-01-dmz with two alerts of its own; a Declaration of Compromise on
    probe-01 and a Sighting on probe-02."""
    with Emulator(tls=True, seed=61, probes=3, templates=1, alerts=40, flows=20, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emulator:
        emulator.rename_probe("probe-03", "probe-01-dmz")
        emulator.dmz = emulator.add_alerts(probe="probe-01-dmz", count=2)
        [emulator.doc] = emulator.add_alerts(probe="probe-01", kind="doc")
        [emulator.sighting] = emulator.add_alerts(probe="probe-02", kind="sighting")
        yield emulator


@pytest.fixture
def scs(site):
    site.clear_faults()
    site.clear_requests()
    site.configure(es_keyword="keyword", analysed_subfields=False, raw_hits=False)
    yield site
    site.clear_faults()
    site.configure(es_keyword="keyword", analysed_subfields=False, raw_hits=False)


def query_of(entry):
    return dict(urllib.parse.parse_qsl(entry["query"]))


def alert_queries(emulator):
    return [query_of(entry) for entry in emulator.requests() if entry["path"] == ALERTS_PATH]


def paths(emulator):
    return [entry["path"] for entry in emulator.requests()]


def exact_ids(emulator, probe):
    return {alert["_id"] for alert in emulator.alerts() if alert["host"] == probe}


def test_probe_filter_is_exact_on_the_keyword_sub_field_scs_names(tmp_path, scs):
    # The bare host field is analysed: the server's own phrase match finds probe-01-dmz's alerts too.
    assert {alert["host"] for alert in scs.alerts('host:"probe-01"')} == {"probe-01", "probe-01-dmz"}
    expected = exact_ids(scs, "probe-01")
    scs.clear_requests()
    run = run_tasks(tmp_path, scs.env(), [
        {"name": "probe-01", "stamus.scs.alert_info": {"probe": "probe-01"}, "register": "one"},
        {"name": "probe-01-dmz", "stamus.scs.alert_info": {"probe": "probe-01-dmz"}, "register": "dmz"},
    ])
    one, dmz = run["one"], run["dmz"]
    assert {alert["_id"] for alert in one["alerts"]} == expected and len(expected) > 2
    assert {alert["_id"] for alert in dmz["alerts"]} == {alert["_id"] for alert in scs.dmz}
    assert one["dropped_other_probes"] == dmz["dropped_other_probes"] == 0 and not one.get("warnings")
    assert paths(scs) == [SETTINGS_PATH, ALERTS_PATH] * 2  # es_keyword read once per task
    assert [query["qfilter"] for query in alert_queries(scs)] == ['host.keyword:"probe-01"', 'host.keyword:"probe-01-dmz"']

    scs.configure(es_keyword="raw")
    scs.clear_requests()
    run = run_tasks(tmp_path, scs.env(), [{"name": "raw", "stamus.scs.alert_info": {"probe": "probe-01"}, "register": "raw"}])
    assert alert_queries(scs)[0]["qfilter"] == 'host.raw:"probe-01"'
    assert {alert["_id"] for alert in run["raw"]["alerts"]} == expected


def test_alerts_of_other_probes_that_scs_still_returns_are_dropped_and_counted(tmp_path, scs):
    """A server whose keyword sub-fields are analysed matches probe-01-dmz for probe-01: the modules keep only
    probe-01's alerts, count the others and warn."""
    scs.configure(analysed_subfields=True)
    assert {alert["host"] for alert in scs.alerts('host.keyword:"probe-01"')} == {"probe-01", "probe-01-dmz"}
    dest = tmp_path / "evidence"
    run = run_tasks(tmp_path, scs.env(), [
        {"name": "Find", "stamus.scs.alert_info": {"probe": "probe-01"}, "register": "found"},
        {"name": "Fetch", "stamus.scs.alert_pcap": {"probe": "probe-01", "since": "7d", "dest": str(dest)},
         "register": "fetched"},
    ], check=True)
    found, fetched = run["found"], run["fetched"]
    assert {alert["_id"] for alert in found["alerts"]} == exact_ids(scs, "probe-01")
    assert found["dropped_other_probes"] == 2 and fetched["dropped_other_probes"] == 2
    for result in (found, fetched):
        [warning] = [text for text in result["warnings"] if "other probes" in text]
        assert "SCS returned 2 alert(s) of other probes than 'probe-01' ('probe-01-dmz')" in warning
        assert "host.keyword" in warning
    assert {entry["probe"] for entry in fetched["results"]} == {"probe-01"}
    assert not dest.exists()  # check mode


def test_event_kinds_select_doc_and_sightings_and_their_pcaps_are_fetched(tmp_path, scs):
    doc, sighting = scs.doc, scs.sighting
    dest = tmp_path / "evidence"
    scs.clear_requests()
    run = run_tasks(tmp_path, scs.env(), [
        {"name": "Default", "stamus.scs.alert_info": {"since": "1h"}, "register": "default"},
        {"name": "DoC", "stamus.scs.alert_info": {"event_kinds": ["doc"]}, "register": "doc"},
        {"name": "Sightings", "stamus.scs.alert_info": {"event_kinds": ["sightings"]}, "register": "sightings"},
        {"name": "All", "stamus.scs.alert_info": {"event_kinds": ["alerts", "doc", "sightings"], "since": "1h"},
         "register": "all"},
        {"name": "Pcap of the DoC", "stamus.scs.alert_pcap": {"event_kinds": ["doc"], "dest": str(dest)},
         "register": "pcap"},
        {"name": "By id, every kind", "register": "by_id",
         "stamus.scs.alert_pcap": {"alert_ids": [doc["_id"], sighting["_id"]], "dest": str(dest)}},
        {"name": "By id, alerts only", "stamus.scs.alert_info": {"alert_ids": [doc["_id"]], "event_kinds": ["alerts"]},
         "register": "narrowed"},
    ])
    default = {alert["_id"] for alert in run["default"]["alerts"]}
    assert doc["_id"] not in default and sighting["_id"] not in default
    assert [alert["_id"] for alert in run["doc"]["alerts"]] == [doc["_id"]]
    assert run["doc"]["alerts"][0]["stamus"]["threat_name"] == doc["stamus"]["threat_name"]
    assert [alert["_id"] for alert in run["sightings"]["alerts"]] == [sighting["_id"]]
    assert {alert["_id"] for alert in run["all"]["alerts"]} == default | {doc["_id"], sighting["_id"]}
    assert [query["stamus"] for query in alert_queries(scs)[:2]] == ["false", "true"]

    [entry] = run["pcap"]["results"]
    assert entry["alert_id"] == doc["_id"] and entry["kind"] == "doc" and entry["outcome"] == "fetched"
    pcap = dest / "probe-01" / ("%d.pcap" % doc["flow_id"])
    assert pcap.read_bytes() == scs.expected_pcap(doc["_id"]) and entry["packets"] > 0 and entry["flow_present"]
    manifest = json.loads(pcap.with_suffix(".json").read_text())
    assert manifest["alerts"][0]["event_type"] == "stamus" and manifest["extracted_with_alert"] == doc["_id"]

    by_id = run["by_id"]
    assert by_id["not_found"] == [] and not by_id.get("failed"), by_id
    assert {(entry["kind"], entry["outcome"]) for entry in by_id["results"]} == {("doc", "present"), ("sighting", "fetched")}
    assert run["narrowed"]["not_found"] == [doc["_id"]]
    assert TOKEN_MARKER not in run.stdout + run.stderr


def test_role_and_evidence_pull_with_event_kinds(tmp_path, scs):
    dest = tmp_path / "pull"
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "stamus.scs.evidence_pull", "-e",
                           json.dumps({"event_kinds": "doc,sightings", "since": "1h", "dest": str(dest),
                                       "probe": "probe-01"})],
                          cwd=str(tmp_path), env=ansible_env(scs.env()), capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "event kinds doc, sightings" in proc.stdout
    [report] = dest.glob("report-*.md")
    text = report.read_text()
    assert "| Event kinds | doc, sightings |" in text
    assert "| %s | doc | probe-01 |" % scs.doc["_id"] in text and scs.sighting["_id"] not in text  # on probe-02
    assert (dest / "probe-01" / ("%d.pcap" % scs.doc["flow_id"])).exists()
    flags = [(query["alert"], query["stamus"], query["discovery"]) for query in alert_queries(scs)]
    assert flags == [("false", "true", "true")]

    bad = subprocess.run([os.path.join(BIN, "ansible-playbook"), "stamus.scs.evidence_pull", "-e", "event_kinds=alerts,docs"],
                         cwd=str(tmp_path), env=ansible_env(scs.env()), capture_output=True, text=True, timeout=300,
                         check=False)
    assert bad.returncode != 0 and "event_kinds a list among alerts, doc and sightings" in bad.stdout


def test_windows_scs_would_turn_into_the_last_hour_are_refused_before_any_call(tmp_path, scs):
    month_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 40 * 86400))
    run = run_tasks(tmp_path, scs.env(), [
        {"name": "Empty", "stamus.scs.alert_info": {"from": "2026-05-02T10:00:00Z", "to": "2026-05-02T10:00:00Z"},
         "register": "empty"},
        {"name": "Old end", "stamus.scs.alert_info": {"to": month_ago}, "register": "old_end"},
        {"name": "Pcaps, reversed", "stamus.scs.alert_pcap": {"since": "1h", "to": month_ago, "dest": str(tmp_path / "e")},
         "register": "pcaps"},
    ])
    assert "reversed or empty" in run["empty"]["msg"] and "hour before to" in run["empty"]["msg"]
    assert "more than 30 days ago" in run["old_end"]["msg"] and "Set from (or since) too" in run["old_end"]["msg"]
    assert run["pcaps"]["failed"] and "reversed or empty" in run["pcaps"]["msg"]
    assert scs.requests() == []


def test_a_page_past_the_end_ends_paging(tmp_path, scs):
    """A first page that announces more than there is (the index changed between pages): the next page is past the
    end, which SCS answers 200 with empty results; the module stops there with what it read."""
    two = scs.alerts()[:2]
    scs.clear_requests()
    query = "_id:(%s)" % " OR ".join('"%s"' % alert["_id"] for alert in two)
    page_one = {"count": 4, "next": scs.url + ALERTS_PATH + "?page=2", "previous": None, "results": two}
    scs.inject_fault(method="GET", path="alerts_tail", kind="status", status=200, body=page_one, count=1)
    run = run_tasks(tmp_path, scs.env(), [
        {"name": "Two per page", "stamus.scs.alert_info": {"qfilter": query, "page_size": 2}, "register": "paged"},
    ])
    paged = run["paged"]
    assert not paged.get("failed") and [alert["_id"] for alert in paged["alerts"]] == [alert["_id"] for alert in two]
    pages = [entry for entry in scs.requests() if entry["path"] == ALERTS_PATH]
    assert [(query_of(entry)["page"], entry["status"]) for entry in pages] == [("1", 200), ("2", 200)]


def test_a_bare_string_400_is_shown_as_scs_said_it(tmp_path, scs):
    scs.inject_fault(method="GET", path="alerts_tail", kind="status", status=400, body='"Wrong ordering value: x;y"')
    run = run_tasks(tmp_path, scs.env(), [{"name": "Refused", "stamus.scs.alert_info": {}, "register": "refused"}])
    refused = run["refused"]
    assert refused["failed"] and refused["http_status"] == 400
    assert "HTTP 400 (Wrong ordering value: x;y). SCS rejected the request as it said." in refused["msg"]
    assert refused["api_detail"] == "Wrong ordering value: x;y"


def test_raw_hits_of_an_older_scs_end_to_end(tmp_path):
    """--legacy serves alerts_tail results as raw hits, as SCS did before mid-2022: alert_info returns them flat and
    alert_pcap fetches their pcaps."""
    with Emulator(tls=True, seed=62, probes=2, templates=1, alerts=12, flows=6, pcap="all", legacy=True,
                  extra_args=NO_ROTATION) as old:
        raw = old.rest("GET", ALERTS_PATH, params={"page_size": 100}).json()["results"]
        assert raw and all(set(hit) >= {"_id", "_source"} and "host" not in hit for hit in raw)
        per_flow = collections.Counter((hit["_source"]["host"], hit["_source"]["flow_id"]) for hit in raw)
        alone = next(hit for hit in raw if per_flow[(hit["_source"]["host"], hit["_source"]["flow_id"])] == 1)
        probe = alone["_source"]["host"]
        dest = tmp_path / "evidence"
        run = run_tasks(tmp_path, old.env(), [
            {"name": "Find", "stamus.scs.alert_info": {"probe": probe}, "register": "found"},
            {"name": "Fetch", "stamus.scs.alert_pcap": {"alert_ids": [alone["_id"]], "dest": str(dest)}, "register": "one"},
            {"name": "Fetch all", "stamus.scs.alert_pcap": {"since": "30d", "dest": str(dest)}, "register": "all"},
        ])
        found = run["found"]["alerts"]
        assert found and all(alert["host"] == probe and "_source" not in alert and alert["_id"] for alert in found)
        assert {alert["_id"] for alert in found} == {hit["_id"] for hit in raw if hit["_source"]["host"] == probe}
        [entry] = run["one"]["results"]
        assert entry["outcome"] == "fetched" and entry["alert_id"] == alone["_id"]
        pcap = dest / probe / ("%d.pcap" % alone["_source"]["flow_id"])
        assert pcap.read_bytes() == old.expected_pcap(alone["_id"])
        summary = run["all"]["summary"]
        assert summary["alerts"] == 12 and summary["failed"] == 0 and summary["fetched"] + summary["present"] == 12
