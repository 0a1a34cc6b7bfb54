"""The pcap extraction steps against the probes' real pcap stores."""

import io
import ipaddress
import json
import struct

import dpkt
import pytest
import requests

from scs_emulator import pcapstore
from scs_emulator.testing import EmulatorError

FS = "/rest/rules/filestore_pcap/"


def upload(emu, alert, host=None, token=None):
    return emu.rest("POST", FS + "upload/", token=token, params={"host": host or alert["host"]},
                    files={"file": ("alert.json", json.dumps(alert), "application/json")})


def workflow(emu, alert, token=None):
    """Run upload/extract/status/retrieve/download; return the downloaded response."""
    aid, host = alert["_id"], alert["host"]
    assert upload(emu, alert, token=token).json() == {"upload": "done", "filename": aid}
    assert emu.rest("GET", FS + "%s/status/" % aid, token=token, params={"host": host}).json() == {"status": "unknown"}
    resp = emu.rest("POST", FS + "%s/extract_pcap/" % aid, token=token, params={"host": host})
    assert resp.json() == {"extraction": "done", "filename": aid}, resp.text
    assert emu.rest("GET", FS + "%s/status/" % aid, token=token, params={"host": host}).json() == {"status": "available"}
    assert emu.rest("GET", FS + "%s/retrieve/" % aid, token=token, params={"host": host}).json() == {"retrieve": "done"}
    return emu.rest("GET", FS + "%s/download/" % aid, token=token)


def extractable(emu, rotated=False):
    out = []
    for alert in emu.alerts("_exists_:capture_file"):
        try:
            pcapstore.extract_for_alert(pcapstore.store_dir(emu.data_dir, alert["host"]), alert)
            if not rotated:
                out.append(alert)
        except pcapstore.CaptureFileRotated:
            if rotated:
                out.append(alert)
    return out


def test_full_workflow_bytes_and_one_shot(emu):
    alert = extractable(emu)[0]
    resp = workflow(emu, alert, token=emu.readonly_token)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="%s.pcap"' % alert["_id"]
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    data = resp.content
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    assert struct.unpack("<HHiIII", data[4:24]) == (2, 4, 0, 0, 65536, 1)
    assert data == emu.expected_pcap(alert["_id"])
    assert data == pcapstore.extract_for_alert(pcapstore.store_dir(emu.data_dir, alert["host"]), alert)
    again = emu.rest("GET", FS + "%s/download/" % alert["_id"])
    assert again.status_code == 404
    assert again.json() == {"detail": "Unknown filename \"%s.pcap\"" % alert["_id"]}


def test_pcap_holds_the_flow_both_ways(emu):
    alerts = [a for a in extractable(emu) if a["proto"] == "TCP"]
    alert = alerts[0]
    data = workflow(emu, alert).content
    src = ipaddress.ip_address(alert["src_ip"]).packed
    dst = ipaddress.ip_address(alert["dest_ip"]).packed
    ways = set()
    flags = 0
    reader = dpkt.pcap.Reader(__import__("io").BytesIO(data))
    assert reader.datalink() == dpkt.pcap.DLT_EN10MB
    count = 0
    for _ts, buf in reader:
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        assert {ip.src, ip.dst} == {src, dst}
        tcp = ip.data
        assert {tcp.sport, tcp.dport} == {alert["src_port"], alert["dest_port"]}
        ways.add(ip.src == src)
        flags |= tcp.flags
        count += 1
    assert ways == {True, False}
    assert flags & dpkt.tcp.TH_FIN
    assert count >= alert["flow"]["pkts_toserver"] + alert["flow"]["pkts_toclient"]


def test_many_extractions_match_the_pure_function(emu):
    for alert in extractable(emu)[:25]:
        resp = workflow(emu, alert)
        assert resp.content == pcapstore.extract_for_alert(pcapstore.store_dir(emu.data_dir, alert["host"]), alert)
        assert len(resp.content) > 24


def test_source_hit_upload_is_accepted(emu):
    alert = extractable(emu)[1]
    hit = {"_id": alert["_id"], "_source": {k: v for k, v in alert.items() if k != "_id"}}
    resp = emu.rest("POST", FS + "upload/", params={"host": alert["host"]}, files={"file": ("hit.json", json.dumps(hit))})
    assert resp.json() == {"upload": "done", "filename": alert["_id"]}
    resp = emu.rest("POST", FS + "%s/extract_pcap/" % alert["_id"], params={"host": alert["host"]})
    assert resp.json()["extraction"] == "done"


def test_rotated_capture_file_is_an_error(emu):
    alert = extractable(emu, rotated=True)[0]
    assert upload(emu, alert).status_code == 200
    resp = emu.rest("POST", FS + "%s/extract_pcap/" % alert["_id"], params={"host": alert["host"]})
    assert resp.status_code == 400
    assert "no longer exists (rotated)" in resp.json()["error"]
    assert emu.rest("GET", FS + "%s/status/" % alert["_id"], params={"host": alert["host"]}).json() == {"status": "unknown"}
    resp = emu.rest("GET", FS + "%s/retrieve/" % alert["_id"], params={"host": alert["host"]})
    assert resp.status_code == 400 and "error" in resp.json()


def test_alert_without_capture_file(emu):
    alert = emu.alerts("host:probe-02")[0]
    assert "capture_file" not in alert
    upload(emu, alert)
    resp = emu.rest("POST", FS + "%s/extract_pcap/" % alert["_id"], params={"host": "probe-02"})
    assert resp.status_code == 400 and "capture_file" in resp.json()["error"]


def test_upload_errors(emu):
    alert = emu.alerts()[0]
    resp = emu.rest("POST", FS + "upload/", params={"host": alert["host"]}, json=alert)
    assert resp.status_code == 400 and resp.json() == {"file": ["This field is required."]}
    resp = emu.rest("POST", FS + "upload/", params={"host": alert["host"]}, files={"file": ("a.json", b"{not json")})
    assert resp.status_code == 500 and resp.headers["Content-Type"].startswith("text/html")
    resp = emu.rest("POST", FS + "upload/", params={"host": alert["host"]}, files={"file": ("a.json", b'{"host": "x"}')})
    assert resp.status_code == 500 and "<h1>Server Error (500)</h1>" in resp.text
    resp = emu.rest("POST", FS + "upload/", params={"host": alert["host"]}, files={"file": ("a.json", json.dumps(dict(alert, _id="../x")))})
    assert resp.status_code == 400 and "error" in resp.json()
    resp = upload(emu, alert, host="probe-99")
    assert resp.status_code == 400 and "error" in resp.json()
    emu.configure(upload_limit=1000)
    try:
        resp = upload(emu, dict(alert, pad="x" * 2000))
        assert resp.status_code == 400 and resp.json() == {"file": ["json file is too big."]}
    finally:
        emu.configure(upload_limit=100000000)


def test_post_without_trailing_slash_does_not_work(emu):
    alert = emu.alerts()[0]
    resp = emu.rest("POST", "/rest/rules/filestore_pcap/upload", params={"host": alert["host"]},
                    files={"file": ("a.json", json.dumps(alert))}, allow_redirects=False)
    assert resp.status_code == 301
    resp = emu.rest("POST", "/rest/rules/filestore_pcap/upload", params={"host": alert["host"]},
                    files={"file": ("a.json", json.dumps(alert))})
    assert resp.status_code == 405


def test_header_only_pcap_when_nothing_matches(fresh_emu):
    alert = fresh_emu.add_alerts(probe="probe-01", count=1, kind="no_packets")[0]
    assert alert["capture_file"]
    data = workflow(fresh_emu, alert).content
    assert len(data) == 24 and data[:4] == b"\xd4\xc3\xb2\xa1"


def test_extract_other_flow_serves_packets_of_another_flow(emu):
    alert = extractable(emu)[1]
    emu.configure(extract_other_flow=True)
    try:
        data = workflow(emu, alert).content
    finally:
        assert emu.configure(extract_other_flow=False)["extract_other_flow"] is False
    records = pcapstore.read_pcap(data)
    assert len(records) == 3 and data == pcapstore.other_flow_pcap()
    assert pcapstore.alert_key(alert) not in {pcapstore.frame_key(record[-1]) for record in records}
    assert workflow(emu, alert).content == emu.expected_pcap(alert["_id"])  # off again: the alert's own flow


def test_new_alerts_and_forced_rotation(fresh_emu):
    alerts = fresh_emu.add_alerts(probe="probe-03", count=3)
    assert all(a["capture_file"] for a in alerts)
    assert len(fresh_emu.alerts("_id:%s" % alerts[0]["_id"])) == 1
    same = fresh_emu.add_alerts(probe="probe-01", count=3, kind="same_flow")
    assert len({a["flow_id"] for a in same}) == 1
    data = workflow(fresh_emu, same[0]).content
    assert len(data) > 24 and data == fresh_emu.expected_pcap(same[0]["_id"])
    off = fresh_emu.add_alerts(probe="probe-02", count=2)
    assert all("capture_file" not in a for a in off)
    files = fresh_emu.state()["probes"][2]["store_files"]
    result = fresh_emu.rotate("probe-03", files=len(files))
    assert len(result["removed"]) == len(files)
    upload(fresh_emu, alerts[0])
    resp = fresh_emu.rest("POST", FS + "%s/extract_pcap/" % alerts[0]["_id"], params={"host": "probe-03"})
    assert resp.status_code == 400 and "rotated" in resp.json()["error"]


def test_new_alerts_with_merged_fields(fresh_emu):
    """add_alerts(fields=...) deep-merges into each alert: new keys (any text), nested values, overrides; the alert is
    served as merged and its pcap is still the flow's."""
    fields = {"{{ key }}": {"x": "{% raw %}"}, "http": {"http_user_agent": "{{ ua }}", "extra": ["{# a #}"]},
              "alert": {"metadata": {"note": ["{{ m }}"]}}, "app_proto": "weird"}
    added = fresh_emu.add_alerts(probe="probe-01", count=2, fields=fields)
    for alert in added:
        served = fresh_emu.alerts('_id:"%s"' % alert["_id"])
        assert served == [alert]
        assert alert["{{ key }}"] == {"x": "{% raw %}"} and alert["app_proto"] == "weird"
        assert alert["http"]["http_user_agent"] == "{{ ua }}" and alert["http"]["extra"] == ["{# a #}"]
        assert alert["alert"]["signature"] and alert["alert"]["signature_id"]  # untouched neighbours stay
        assert alert["alert"]["metadata"]["note"] == ["{{ m }}"] and len(alert["alert"]["metadata"]) > 1
        assert workflow(fresh_emu, alert).content == fresh_emu.expected_pcap(alert["_id"])
    [own] = fresh_emu.add_alerts(probe="probe-01", count=1, fields={"_id": "my-own_id", "host": "{{ h }}"})
    assert own["_id"] == "my-own_id" and fresh_emu.alerts('host:"{{ h }}"') == [own]
    for fields, count in (({"_id": "x"}, 2), ({"flow_id": "1"}, 1), ({"_id": "my-own_id"}, 1), ([1], 1)):
        with pytest.raises(EmulatorError, match="400"):
            fresh_emu.add_alerts(probe="probe-01", count=count, fields=fields)


def test_store_is_bounded(fresh_emu):
    fresh_emu.add_alerts(probe="probe-01", count=60)
    state = fresh_emu.state()
    probe = state["probes"][0]
    assert probe["store_bytes"] <= state["config"]["pcap_total_size"] + state["config"]["pcap_file_size"]
    for name in probe["store_files"]:
        assert pcapstore.FILE_RE.match(name.rsplit("/", 1)[1])


def test_synthetic_pcap_sizes_are_exact_and_valid():
    for size in (24, 100, 1554, 1555, 1629, 1630, 24 + 1530 * 685 + 1, 3 * 1024 * 1024 + 7):
        data = b"".join(bytes(chunk) for chunk in pcapstore.synthetic_pcap_chunks(size))
        assert len(data) == size
        records = pcapstore.read_pcap(data)
        assert 24 + sum(16 + len(frame) for _s, _u, frame in records) == size
        for _s, _u, frame in records[-2:]:
            ip = dpkt.ethernet.Ethernet(frame).data
            assert isinstance(ip.data, dpkt.tcp.TCP) and ip.len == len(frame) - 14
    for size in (0, 23, 25, 99):
        try:
            list(pcapstore.synthetic_pcap_chunks(size))
        except ValueError:
            continue
        raise AssertionError("size %d accepted" % size)


def test_stage_pcap_download_streams_one_shot(emu):
    size = 20 * 1024 * 1024 + 3
    staged = emu.stage_pcap("stagedBig_1", size)
    assert staged["size"] == size
    resp = emu.rest("GET", FS + "stagedBig_1/download/", stream=True)
    assert resp.status_code == 200 and int(resp.headers["Content-Length"]) == size
    total, first = 0, b""
    for chunk in resp.iter_content(1024 * 1024):
        first = first or chunk[:24]
        total += len(chunk)
    assert total == size and first == pcapstore.GLOBAL_HEADER
    assert emu.rest("GET", FS + "stagedBig_1/download/").status_code == 404


def test_stage_pcap_on_a_probe_and_errors(emu):
    emu.stage_pcap("stagedP", 5000, probe="probe-02")
    assert emu.rest("GET", FS + "stagedP/status/", params={"host": "probe-02"}).json() == {"status": "available"}
    data = emu.rest("GET", FS + "stagedP/download/").content
    assert len(data) == 5000 and pcapstore.read_pcap(data)
    # still extracted on the probe: retrieve copies it to SCS again
    assert emu.rest("GET", FS + "stagedP/retrieve/", params={"host": "probe-02"}).json() == {"retrieve": "done"}
    assert emu.rest("GET", FS + "stagedP/download/").content == data
    for bad in ({"filename": "a/b", "size": 100}, {"filename": "x", "size": 50}, {"filename": "x", "size": 100, "probe": "nope"},
                {"filename": "x"}, {"filename": "x", "shb_size": 30}, {"filename": "x", "shb_size": "big"}):
        resp = requests.post(emu.url + "/_emulator/stage_pcap/", json=bad, verify=emu.verify, timeout=10)
        assert resp.status_code == 400, bad


def test_stage_pcap_with_a_big_section_header_block(emu):
    shb = 64 * 1024 * 1024
    emu.stage_pcap("stagedShb", 0, shb_size=shb)
    data = emu.rest("GET", FS + "stagedShb/download/").content
    assert struct.unpack_from("<IIIHH", data) == (0x0A0D0D0A, shb, 0x1A2B3C4D, 1, 0)
    assert struct.unpack_from("<I", data, shb - 4)[0] == shb and not data[28:shb - 4].strip(b"\0")
    # the rest, after a minimal Section Header Block, is a pcapng that dpkt reads
    packets = list(dpkt.pcapng.Reader(io.BytesIO(struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
                                                 + data[shb:])))
    assert len(packets) == 3 and all(len(frame) == 60 for _ts, frame in packets)
