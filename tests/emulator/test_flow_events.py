"""events_from_flow_id and the filestore: the flow's events derived from the packets of its pcap, and the files
the filestore holds by sha256, as Scirius serves them."""

import hashlib
import json

from scs_emulator.pcapstore import read_pcap

EVENTS = "/rest/rules/es/events_from_flow_id/"
FILESTORE = "/rest/rules/filestore/%s/%s/"


def _events(emu, alert, **params):
    qfilter = 'flow_id:%d AND host.raw:"%s"' % (alert["flow_id"], alert["host"])
    return emu.rest("GET", EVENTS, params=dict(params, qfilter=qfilter))


def _http_alerts(emu, count=12):
    return [alert for alert in emu.add_alerts(probe="probe-01", count=count) if alert["app_proto"] == "http"]


def test_events_match_the_pcap(fresh_emu):
    for alert in fresh_emu.add_alerts(probe="probe-01", count=6):
        body = _events(fresh_emu, alert).json()
        assert body["Alert"] == [{key: value for key, value in alert.items() if key != "_id"}]
        assert all("_id" not in event for events in body.values() for event in events)
        packets = read_pcap(fresh_emu.expected_pcap(alert["_id"]))
        flow = body["Flow"][0]["flow"]
        assert flow["pkts_toserver"] + flow["pkts_toclient"] == len(packets)
        assert flow["bytes_toserver"] + flow["bytes_toclient"] == sum(len(frame) for _s, _u, frame in packets)
        app = alert["app_proto"]
        assert body[app.title()][0][app] == alert[app]
        stamps = [event["@timestamp"] for events in body.values() for event in events]
        assert len(stamps) <= 100


def test_fileinfo_is_the_http_body_and_the_filestore_serves_it(fresh_emu):
    alerts = _http_alerts(fresh_emu)
    assert alerts
    stored = 0
    for alert in alerts:
        info = _events(fresh_emu, alert).json()["Fileinfo"][0]["fileinfo"]
        pcap = fresh_emu.expected_pcap(alert["_id"])
        assert info["filename"] == alert["http"]["url"] and info["size"] == alert["http"]["length"]
        status = fresh_emu.rest("GET", FILESTORE % (info["sha256"], "status"), params={"host": "probe-01"}).json()
        download = fresh_emu.rest("GET", FILESTORE % (info["sha256"], "download"), params={"host": "probe-01"})
        if not info["stored"]:
            assert status == {"status": "unknown"} and download.status_code == 404
            assert download.json() == {"detail": 'Unknown filename "%s"' % info["sha256"]}
            continue
        stored += 1
        assert status == {"status": "available"}
        assert fresh_emu.rest("GET", FILESTORE % (info["sha256"], "retrieve")).json() == {"retrieve": "done"}
        assert download.headers["Content-Disposition"] == 'attachment; filename="%s.data"' % info["sha256"]
        assert hashlib.sha256(download.content).hexdigest() == info["sha256"] and download.content[:200] in pcap
        again = fresh_emu.rest("GET", FILESTORE % (info["sha256"], "download"))
        assert again.content == download.content  # not removed after a download
    assert stored


def test_probe_filter_window_and_cap(fresh_emu):
    alert = fresh_emu.add_alerts(probe="probe-01", count=1)[0]
    other = 'flow_id:%d AND host.raw:"probe-03"' % alert["flow_id"]
    assert fresh_emu.rest("GET", EVENTS, params={"qfilter": other}).json() == {}
    assert _events(fresh_emu, alert, from_date=0, to_date=1000).json() == {}
    assert fresh_emu.rest("GET", EVENTS).status_code == 400
    many = fresh_emu.add_alerts(probe="probe-01", count=120, kind="same_flow")
    body = _events(fresh_emu, many[0]).json()
    assert sum(len(events) for events in body.values()) == 100
    stamps = sorted((event["@timestamp"] for events in body.values() for event in events), reverse=True)
    newest = max(event["@timestamp"] for event in many)
    assert stamps[0] >= newest


def test_fault_switches(fresh_emu):
    alert = _http_alerts(fresh_emu)[0]
    sha256 = _events(fresh_emu, alert).json()["Fileinfo"][0]["fileinfo"]["sha256"]
    fresh_emu.configure(filestore_corrupt=True)
    data = fresh_emu.rest("GET", FILESTORE % (sha256, "download")).content
    assert data and hashlib.sha256(data).hexdigest() != sha256
    fresh_emu.inject_fault(path="events_from_flow_id", kind="huge_json", size=5 << 20)
    huge = _events(fresh_emu, alert)
    assert len(huge.content) == 5 << 20 and set(json.loads(huge.content)) == {"Alert"}
