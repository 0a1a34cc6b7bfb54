"""Fault injection (each kind) and the request log."""

import gzip
import json
import time
import zlib

import pytest
import requests

TAIL = "/rest/rules/es/alerts_tail/"


def test_status_fault_with_retry_after_then_normal(clean_emu):
    emu = clean_emu
    emu.inject_fault(method="GET", path="alerts_tail", kind="status", status=503, retry_after=2, count=2)
    for _i in range(2):
        resp = emu.rest("GET", TAIL)
        assert resp.status_code == 503
        assert resp.headers["Retry-After"] == "2"
        assert "detail" in resp.json()
    assert emu.rest("GET", TAIL).status_code == 200
    assert emu.faults() == []


def test_fault_method_and_path_filters(clean_emu):
    emu = clean_emu
    emu.inject_fault(method="POST", path="extract_pcap", kind="status", status=429, count=-1)
    assert emu.rest("GET", TAIL).status_code == 200
    resp = emu.rest("POST", "/rest/rules/filestore_pcap/abc/extract_pcap/", params={"host": "probe-01"})
    assert resp.status_code == 429
    assert emu.rest("POST", "/rest/rules/filestore_pcap/abc/extract_pcap/", params={"host": "probe-01"}).status_code == 429
    assert emu.faults()[0]["hits"] == 2
    emu.clear_faults()
    assert emu.rest("POST", "/rest/rules/filestore_pcap/abc/extract_pcap/", params={"host": "probe-01"}).status_code == 400


def test_html500(clean_emu):
    clean_emu.inject_fault(path="scirius_context", kind="html500")
    resp = clean_emu.rest("GET", "/rest/rules/scirius_context/")
    assert resp.status_code == 500
    assert resp.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        resp.json()


def test_reset_is_a_connection_error(clean_emu):
    clean_emu.inject_fault(path="alerts_tail", kind="reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        clean_emu.rest("GET", TAIL)
    assert clean_emu.rest("GET", TAIL).status_code == 200


def _pcap_ready(emu):
    for alert in emu.alerts("_exists_:capture_file"):
        emu.rest("POST", "/rest/rules/filestore_pcap/upload/", params={"host": alert["host"]},
                 files={"file": ("a.json", json.dumps(alert))})
        resp = emu.rest("POST", "/rest/rules/filestore_pcap/%s/extract_pcap/" % alert["_id"], params={"host": alert["host"]})
        if resp.status_code == 200:
            emu.rest("GET", "/rest/rules/filestore_pcap/%s/retrieve/" % alert["_id"], params={"host": alert["host"]})
            return alert
    raise AssertionError("no extractable alert")


def test_reset_mid_body_on_download(clean_emu):
    emu = clean_emu
    alert = _pcap_ready(emu)
    emu.inject_fault(path="download", kind="reset_mid_body")
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        emu.rest("GET", "/rest/rules/filestore_pcap/%s/download/" % alert["_id"])
    # the server served (and so deleted) the file: it is gone, like a real one-shot download
    assert emu.rest("GET", "/rest/rules/filestore_pcap/%s/download/" % alert["_id"]).status_code == 404


def test_truncate(clean_emu):
    clean_emu.inject_fault(path="alerts_tail", kind="truncate")
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        clean_emu.rest("GET", TAIL)
    assert clean_emu.rest("GET", TAIL).status_code == 200


def test_delay(clean_emu):
    clean_emu.inject_fault(path="scirius_context", kind="delay", delay=0.6)
    started = time.monotonic()
    resp = clean_emu.rest("GET", "/rest/rules/scirius_context/")
    assert resp.status_code == 200 and time.monotonic() - started >= 0.6
    clean_emu.inject_fault(path="scirius_context", kind="delay", delay=2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        clean_emu.rest("GET", "/rest/rules/scirius_context/", timeout=0.5)


def test_gzip_is_the_real_answer_compressed_and_chunked(clean_emu):
    plain = clean_emu.rest("GET", TAIL, params={"page_size": 5}).json()
    clean_emu.inject_fault(path="alerts_tail", kind="gzip")
    resp = clean_emu.rest("GET", TAIL, params={"page_size": 5}, stream=True)
    assert resp.headers["Content-Encoding"] == "gzip" and "Content-Length" not in resp.headers
    assert resp.headers["Transfer-Encoding"] == "chunked"
    assert json.loads(gzip.decompress(resp.raw.read(decode_content=False))) == plain


def test_gzip_bomb(clean_emu):
    clean_emu.inject_fault(path="alerts_tail", kind="gzip_bomb", size=8 * 1024 * 1024)
    resp = clean_emu.rest("GET", TAIL, stream=True)
    compressed = resp.raw.read(decode_content=False)
    assert resp.headers["Content-Encoding"] == "gzip" and int(resp.headers["Content-Length"]) == len(compressed)
    assert len(compressed) < 64 * 1024
    body = zlib.decompress(compressed, 16 + zlib.MAX_WBITS)
    assert len(body) == 8 * 1024 * 1024 and json.loads(body)["results"][0]["_id"] == "gzipBomb"


def test_dribble_sends_the_real_answer_slowly(clean_emu):
    plain = clean_emu.rest("GET", "/rest/rules/scirius_context/").content
    clean_emu.inject_fault(path="scirius_context", kind="dribble", chunk=max(1, len(plain) // 4), delay=0.3)
    started = time.monotonic()
    resp = clean_emu.rest("GET", "/rest/rules/scirius_context/", timeout=5)
    assert resp.content == plain and time.monotonic() - started >= 0.9
    # each piece comes within a read timeout, so only an overall deadline can stop it
    clean_emu.inject_fault(path="scirius_context", kind="dribble", delay=0.2)
    resp = clean_emu.rest("GET", "/rest/rules/scirius_context/", timeout=1, stream=True)
    started = time.monotonic()
    assert resp.raw.read(5) and time.monotonic() - started >= 0.6
    resp.close()


def test_status_with_an_announced_length(clean_emu):
    clean_emu.inject_fault(path="download", kind="status", status=200, content_length=10 ** 15, body="short")
    resp = clean_emu.rest("GET", "/rest/rules/filestore_pcap/x/download/", stream=True)
    assert resp.status_code == 200 and resp.headers["Content-Length"] == str(10 ** 15)
    resp.close()


def test_no_length_is_chunked(clean_emu):
    plain = clean_emu.rest("GET", TAIL, params={"page_size": 3}).json()
    clean_emu.inject_fault(path="alerts_tail", kind="no_length")
    resp = clean_emu.rest("GET", TAIL, params={"page_size": 3})
    assert "Content-Length" not in resp.headers and resp.headers["Transfer-Encoding"] == "chunked"
    assert resp.json() == plain


def test_invalid_json_and_no_done(clean_emu):
    emu = clean_emu
    emu.inject_fault(path="alerts_tail", kind="invalid_json")
    resp = emu.rest("GET", TAIL)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        resp.json()
    emu.inject_fault(path="extract_pcap", kind="no_done")
    resp = emu.rest("POST", "/rest/rules/filestore_pcap/x/extract_pcap/", params={"host": "probe-01"})
    assert resp.status_code == 200 and resp.json() == {}


def test_extra_result_appends_to_the_page(clean_emu):
    emu = clean_emu
    normal = emu.rest("GET", TAIL, params={"page_size": 2}).json()
    emu.inject_fault(path="alerts_tail", kind="extra_result")
    emu.inject_fault(path="alerts_tail", kind="extra_result", body={"_id": "forged", "@timestamp": "2099-01-01T00:00:00Z"})
    with_null = emu.rest("GET", TAIL, params={"page_size": 2}).json()
    forged = emu.rest("GET", TAIL, params={"page_size": 2}).json()
    assert with_null["results"] == normal["results"] + [None] and with_null["count"] == normal["count"]
    assert forged["results"][-1] == {"_id": "forged", "@timestamp": "2099-01-01T00:00:00Z"}
    assert emu.rest("GET", TAIL, params={"page_size": 2}).json() == normal and emu.faults() == []


def test_redirect_to_another_host(clean_emu):
    clean_emu.inject_fault(path="alerts_tail", kind="redirect")
    resp = clean_emu.rest("GET", TAIL, params={"page": 1}, allow_redirects=False)
    assert resp.status_code == 302
    port = clean_emu.url.rsplit(":", 1)[1]
    assert resp.headers["Location"] == "https://127.0.0.2:%s%s?page=1" % (port, TAIL)
    # a client that follows it leaves the emulator (nothing listens on 127.0.0.2)
    clean_emu.inject_fault(path="alerts_tail", kind="redirect")
    with pytest.raises(requests.exceptions.ConnectionError):
        clean_emu.rest("GET", TAIL, timeout=5)


COLLECTION_PATHS = {
    "alerts_tail": ("GET", TAIL),
    "upload": ("POST", "/rest/rules/filestore_pcap/upload/"),
    "extract_pcap": ("POST", "/rest/rules/filestore_pcap/x1/extract_pcap/"),
    "retrieve": ("GET", "/rest/rules/filestore_pcap/x1/retrieve/"),
    "download": ("GET", "/rest/rules/filestore_pcap/x1/download/"),
    "appliances/probe": ("GET", "/rest/appliances/probe/1/"),
    "appliances/template": ("GET", "/rest/appliances/template/"),
    "update_push_all": ("POST", "/rest/appliances/probe/update_push_all/"),
    "appliances/task": ("GET", "/rest/appliances/task/1/"),
}


def test_every_collection_path_can_be_faulted(clean_emu):
    for name, (method, path) in COLLECTION_PATHS.items():
        clean_emu.inject_fault(method=method, path=name, kind="status", status=504)
        assert clean_emu.rest(method, path, params={"host": "probe-01"}).status_code == 504, name
        clean_emu.inject_fault(method=method, path=name, kind="redirect")
        resp = clean_emu.rest(method, path, params={"host": "probe-01"}, allow_redirects=False)
        assert resp.status_code == 302 and resp.headers["Location"].startswith("https://127.0.0.2:"), name
    assert clean_emu.faults() == []


def test_delay_on_a_post_is_a_read_timeout(clean_emu):
    clean_emu.inject_fault(path="extract_pcap", kind="delay", delay=1.5)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        clean_emu.rest("POST", "/rest/rules/filestore_pcap/x2/extract_pcap/", params={"host": "probe-01"}, timeout=0.4)
    assert time.monotonic() - started < 1.4


def test_bad_fault_spec_rejected(clean_emu):
    with pytest.raises(Exception):
        clean_emu.inject_fault(kind="explode")


def test_request_log(clean_emu):
    emu = clean_emu
    emu.clear_requests()
    emu.rest("GET", TAIL, params={"page_size": 1, "token": "secret-value"})
    emu.rest("PATCH", "/rest/appliances/probe/1/", token=emu.readonly_token, json={"descr": "x"})
    emu.inject_fault(path="scirius_context", kind="status", status=502)
    emu.rest("GET", "/rest/rules/scirius_context/")
    log = emu.requests()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", TAIL, 200), ("PATCH", "/rest/appliances/probe/1/", 403), ("GET", "/rest/rules/scirius_context/", 502)]
    assert "secret-value" not in log[0]["query"] and "page_size=1" in log[0]["query"]
    assert log[2]["fault"] == "status"
    assert all(e["duration_ms"] >= 0 for e in log)
    writes = [e for e in log if e["method"] not in ("GET", "HEAD", "OPTIONS")]
    assert len(writes) == 1
    emu.clear_requests()
    assert emu.requests() == []
