import hashlib
import json
import os
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import urllib3

from ansible_collections.stamus.scs.plugins.module_utils import _errors as errors
from ansible_collections.stamus.scs.plugins.module_utils._client import ScsClient, normalize_base_url, read_pages
from ansible_collections.stamus.scs.plugins.module_utils._version import COLLECTION_VERSION

TOKEN = "tok-7408a4b978abdc03ee39e1fea419512e5734f51e"
ALERTS = "/rest/rules/es/alerts_tail/"


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(fake_server, sleeps):
    return ScsClient("https://scs.example.net", TOKEN, retries=3, sleep=sleeps.append)


@pytest.mark.parametrize("url, expected", [
    ("https://scs.example.net", "https://scs.example.net/rest/"),
    ("https://scs.example.net/", "https://scs.example.net/rest/"),
    ("https://scs.example.net/rest", "https://scs.example.net/rest/"),
    ("https://scs.example.net:8443/prefix/rest/", "https://scs.example.net:8443/prefix/rest/"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000/rest/"),
])
def test_base_url_is_normalized_to_the_rest_root(url, expected):
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize("url", ["scs.example.net", "ftp://scs", "", None, "https://"])
def test_unusable_url_names_the_option(url):
    with pytest.raises(errors.ScsConfigError, match="scs_url"):
        normalize_base_url(url)


def test_url_with_credentials_is_refused_without_echoing_them():
    with pytest.raises(errors.ScsConfigError) as info:
        normalize_base_url("https://admin:s3cret@scs.example.net")
    assert "s3cret" not in str(info.value)


def test_headers_trailing_slash_and_tenant(fake_server):
    fake_server.add("GET", "/rest/rules/scirius_context/", json={"version": "41.1.0"})
    client = ScsClient("https://scs.example.net", TOKEN, tenant=3)
    assert client.get_json("rules/scirius_context") == {"version": "41.1.0"}
    request = fake_server.calls[0]
    assert request.headers["Authorization"] == "Token " + TOKEN
    assert request.headers["User-Agent"].startswith("stamus.scs/%s " % COLLECTION_VERSION)
    assert request.url == "https://scs.example.net/rest/rules/scirius_context/?tenant=3"


def test_missing_token_is_a_config_error(fake_server):
    with pytest.raises(errors.ScsConfigError, match="SCS_TOKEN"):
        ScsClient("https://scs.example.net", " ")


def test_http_url_and_disabled_verification_warn(fake_server):
    client = ScsClient("http://scs.example.net", TOKEN, validate_certs=False)
    assert any("http://" in warning for warning in client.warnings)
    assert any("validate_certs" in warning for warning in client.warnings)
    assert client.verify is False


def test_ca_path_wins_over_requests_ca_bundle(fake_server, monkeypatch, ca_pem):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    fake_server.add("GET", "/rest/", json={})
    ScsClient("https://scs", TOKEN, ca_path=ca_pem).get_json("")
    ScsClient("https://scs", TOKEN, ca_path=ca_pem, validate_certs=False).get_json("")
    assert [call.verify for call in fake_server.calls] == [ca_pem, False]


def test_refused_token_is_an_authentication_error_without_the_token(client, fake_server):
    fake_server.add("GET", ALERTS, status=403, json={"detail": "Invalid token."})
    with pytest.raises(errors.ScsAuthenticationError) as info:
        client.get_json("rules/es/alerts_tail/")
    message = str(info.value)
    assert "refused the API token" in message and "SCS_TOKEN" in message
    assert "GET /rest/rules/es/alerts_tail/" in message
    assert TOKEN not in message
    assert info.value.status == 403


def test_missing_role_is_a_permission_error(client, fake_server):
    fake_server.add("PATCH", "/rest/appliances/probe/3/", status=403,
                    json={"detail": "You do not have permission to perform this action."})
    with pytest.raises(errors.ScsPermissionError, match="permission"):
        client.send_json("PATCH", "appliances/probe/3/", json={"conditional_pcap": True})


def test_server_echoing_the_token_is_scrubbed(client, fake_server):
    fake_server.add("GET", ALERTS, status=400, json={"qfilter": ["bad token %s here" % TOKEN]})
    with pytest.raises(errors.ScsValidationError) as info:
        client.get_json("rules/es/alerts_tail/")
    assert TOKEN not in str(info.value)
    assert "qfilter: bad token ******** here" in str(info.value)


def test_html_500_is_trimmed_to_text(client, fake_server):
    page = b"<html><head><style>h1{}</style></head><body><h1>Server Error (500)</h1>" + b"<p>x</p>" * 500 + b"</body></html>"
    fake_server.add("POST", "/rest/rules/filestore_pcap/upload/", status=500, body=page, headers={"Content-Type": "text/html"})
    with pytest.raises(errors.ScsServerError) as info:
        client.send_json("POST", "rules/filestore_pcap/upload/")
    message = str(info.value)
    assert "Server Error (500)" in message and "<h1>" not in message
    assert len(message) < 700


def test_get_is_retried_on_503_with_backoff(client, fake_server, sleeps):
    fake_server.add("GET", ALERTS, status=503, json={"detail": "busy"}, times=2)
    fake_server.add("GET", ALERTS, json={"count": 0, "next": None, "results": []})
    assert client.get_json("rules/es/alerts_tail/")["count"] == 0
    assert len(fake_server.calls) == 3
    assert len(sleeps) == 2 and 0 < sleeps[0] <= 0.5 and 0 < sleeps[1] <= 1.0


def test_retry_after_is_honoured(client, fake_server, sleeps):
    fake_server.add("GET", ALERTS, status=429, json={"detail": "slow down"}, headers={"Retry-After": "7"}, times=1)
    fake_server.add("GET", ALERTS, json={"count": 0, "next": None, "results": []})
    client.get_json("rules/es/alerts_tail/")
    assert sleeps == [7.0]


def test_persistent_503_fails_after_retries(client, fake_server, sleeps):
    fake_server.add("GET", ALERTS, status=503, body=b"<html><h1>503 Service Unavailable</h1></html>",
                    headers={"Content-Type": "text/html"})
    with pytest.raises(errors.ScsServerError) as info:
        client.get_json("rules/es/alerts_tail/")
    assert len(fake_server.calls) == 4
    assert "after 4 attempts" in str(info.value) and "503 Service Unavailable" in str(info.value)


def test_post_is_never_retried(client, fake_server, sleeps):
    fake_server.add("POST", "/rest/rules/filestore_pcap/abc/extract_pcap/", status=503, json={"detail": "busy"})
    with pytest.raises(errors.ScsServerError):
        client.send_json("POST", "rules/filestore_pcap/abc/extract_pcap/")
    assert len(fake_server.calls) == 1 and sleeps == []


def test_connection_errors_are_retried_for_get_only(client, fake_server, sleeps):
    fake_server.add("GET", ALERTS, exc=requests.exceptions.ConnectionError("Connection reset by peer"), times=1)
    fake_server.add("GET", ALERTS, json={"count": 0, "next": None, "results": []})
    client.get_json("rules/es/alerts_tail/")
    fake_server.add("POST", "/rest/rules/filestore_pcap/upload/", exc=requests.exceptions.ConnectionError("reset"))
    with pytest.raises(errors.ScsTransportError, match="reset"):
        client.send_json("POST", "rules/filestore_pcap/upload/")
    assert [call.method for call in fake_server.calls] == ["GET", "GET", "POST"]


def test_timeout_message_names_the_option(client, fake_server):
    fake_server.add("GET", ALERTS, exc=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(errors.ScsTransportError, match="no answer within 120 seconds.*raise timeout"):
        client.get_json("rules/es/alerts_tail/")


@pytest.mark.parametrize("error, problem", [
    ("untrusted", "(certificate verify failed: unable to get local issuer certificate)"),
    ("name_mismatch", "(certificate verify failed: IP address mismatch, certificate is not valid for '127.0.0.1'.)"),
])
def test_tls_failure_points_to_ca_path_and_is_not_retried(client, fake_server, real_errors, error, problem):
    fake_server.add("GET", ALERTS, exc=real_errors[error])
    with pytest.raises(errors.ScsTransportError, match="ca_path") as info:
        client.get_json("rules/es/alerts_tail/")
    assert problem in str(info.value) and "HTTPSConnectionPool" not in str(info.value)
    assert len(fake_server.calls) == 1


def test_redirects_are_not_followed(client, fake_server):
    fake_server.add("GET", ALERTS, status=302, headers={"Location": "https://elsewhere.example/rest/"})
    with pytest.raises(errors.ScsProtocolError, match="does not follow redirects"):
        client.get_json("rules/es/alerts_tail/")
    assert len(fake_server.calls) == 1


def test_non_json_success_is_a_protocol_error(client, fake_server):
    fake_server.add("GET", ALERTS, body=b"<html>login</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(errors.ScsProtocolError, match="not JSON"):
        client.get_json("rules/es/alerts_tail/")


def _paged(items):
    """A DRF PageNumberPagination endpoint over ``items``."""
    def handler(request):
        query = parse_qs(urlsplit(request.url).query)
        page, size = int(query["page"][0]), int(query["page_size"][0])
        more = page * size < len(items)
        body = {"count": min(len(items), 10000), "next": "https://x/?page=%d" % (page + 1) if more else None,
                "previous": None, "results": items[(page - 1) * size:page * size]}
        return 200, json.dumps(body).encode(), {"Content-Type": "application/json"}
    return handler


def test_pagination_reads_every_page(client, fake_server):
    fake_server.add("GET", ALERTS, handler=_paged([{"_id": str(i)} for i in range(250)]))
    results, count, more = client.get_all("rules/es/alerts_tail/", page_size=30)
    assert count == 250 and more is False and [r["_id"] for r in results] == [str(i) for i in range(250)]
    assert len(fake_server.calls) == 9


def test_pagination_stops_at_limit(client, fake_server):
    fake_server.add("GET", ALERTS, handler=_paged([{"_id": str(i)} for i in range(250)]))
    results, count, more = client.get_all("rules/es/alerts_tail/", page_size=30, limit=40)
    assert len(results) == 40 and count == 250 and more is True and len(fake_server.calls) == 2


def test_limit_equal_to_the_total_is_not_a_truncation(client, fake_server):
    fake_server.add("GET", ALERTS, handler=_paged([{"_id": str(i)} for i in range(60)]))
    results, count, more = client.get_all("rules/es/alerts_tail/", page_size=30, limit=60)
    assert len(results) == 60 and count == 60 and more is False


def test_pagination_refuses_to_pass_the_window(client, fake_server):
    fake_server.add("GET", ALERTS, handler=_paged([{"_id": str(i)} for i in range(12000)]))
    with pytest.raises(errors.ScsQueryWindowError) as info:
        client.get_all("rules/es/alerts_tail/", page_size=1000)
    assert "Narrow the query" in str(info.value) and "at least 10000" in str(info.value)
    assert len(fake_server.calls) == 10


def test_page_size_over_the_window_is_refused_before_any_call(client, fake_server):
    with pytest.raises(errors.ScsConfigError, match="page_size"):
        client.get_all("rules/es/alerts_tail/", page_size=20000)
    assert fake_server.calls == []


def test_download_is_atomic_hashed_and_private(client, fake_server, tmp_path):
    payload = os.urandom(3 * (1 << 20) + 17)
    fake_server.add("GET", "/rest/rules/filestore_pcap/abc/download/", body=payload,
                    headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(payload))})
    dest = tmp_path / "abc.pcap"
    result = client.download("rules/filestore_pcap/abc/download/", str(dest))
    assert dest.read_bytes() == payload
    assert result["sha256"] == hashlib.sha256(payload).hexdigest() and result["size"] == len(payload)
    assert oct(dest.stat().st_mode & 0o777) == "0o640"
    assert os.listdir(tmp_path) == ["abc.pcap"]


def test_short_download_leaves_nothing(client, fake_server, tmp_path):
    fake_server.add("GET", "/rest/rules/filestore_pcap/abc/download/", body=b"x" * 100,
                    headers={"Content-Length": "1000"})
    with pytest.raises(errors.ScsTransportError, match="nothing was written"):
        client.download("rules/filestore_pcap/abc/download/", str(tmp_path / "abc.pcap"))
    assert os.listdir(tmp_path) == []


def test_broken_download_keeps_the_previous_file(client, fake_server, tmp_path):
    dest = tmp_path / "abc.pcap"
    dest.write_bytes(b"previous")

    class Broken:
        def readinto(self, *args, **kwargs):  # as urllib3 raises it
            raise urllib3.exceptions.ProtocolError("Connection broken", ConnectionResetError(104, "Connection reset by peer"))

        read = readinto

        def close(self):
            pass

    def handler(request):
        return 200, b"", {}
    fake_server.add("GET", "/rest/rules/filestore_pcap/abc/download/", handler=handler)
    original = fake_server._response

    def broken_response(request, status, body, headers):
        response = original(request, status, body, headers)
        response.raw = Broken()
        return response
    fake_server._response = broken_response
    with pytest.raises(errors.ScsTransportError, match="reset by the server"):
        client.download("rules/filestore_pcap/abc/download/", str(dest))
    assert dest.read_bytes() == b"previous" and os.listdir(tmp_path) == ["abc.pcap"]


def test_tls_eof_is_a_dropped_connection_and_retried(client, fake_server, sleeps, real_errors):
    fake_server.add("GET", ALERTS, exc=real_errors["tls_eof"], times=1)
    fake_server.add("GET", ALERTS, json={"count": 0, "next": None, "results": []})
    assert client.get_json("rules/es/alerts_tail/")["count"] == 0
    assert len(sleeps) == 1
    fake_server.add("POST", "/rest/rules/filestore_pcap/upload/", exc=real_errors["tls_eof"])
    with pytest.raises(errors.ScsTransportError, match="closed or reset by the server") as info:
        client.send_json("POST", "rules/filestore_pcap/upload/")
    assert "ca_path" not in str(info.value)


@pytest.mark.parametrize("error", ["refused", "unresolved"])
def test_a_connection_never_made_is_retried_even_for_post(client, fake_server, sleeps, real_errors, error):
    """Refused, or a name that does not resolve (urllib3's NameResolutionError, a NewConnectionError): nothing was
    sent, so a POST is safe to send again."""
    fake_server.add("POST", "/rest/rules/filestore_pcap/upload/", exc=real_errors[error], times=2)
    fake_server.add("POST", "/rest/rules/filestore_pcap/upload/", json={"upload": "done"})
    assert client.send_json("POST", "rules/filestore_pcap/upload/") == {"upload": "done"}
    assert len(sleeps) == 2


def test_a_reset_after_the_request_is_not_retried_for_post(client, fake_server, sleeps, real_errors):
    fake_server.add("POST", "/rest/rules/filestore_pcap/upload/", exc=real_errors["reset"])
    with pytest.raises(errors.ScsTransportError, match="closed or reset by the server"):
        client.send_json("POST", "rules/filestore_pcap/upload/")
    assert sleeps == []


def test_a_real_read_timeout_names_the_timeout_option(client, fake_server, real_errors):
    fake_server.add("GET", ALERTS, exc=real_errors["read_timeout"])
    with pytest.raises(errors.ScsTransportError, match="no answer within 120 seconds.*raise timeout"):
        client.get_json("rules/es/alerts_tail/")


class ScriptedPages:
    """A client whose get_json answers pages of ``total`` numbered results, ``count`` capped like SCS's."""

    def __init__(self, total, window, count=None):
        self.total, self.window, self.count, self.asked = total, window, count, []

    def get_json(self, path, params=None):
        self.asked.append(params["page"])
        start = (params["page"] - 1) * params["page_size"]
        results = list(range(start, min(start + params["page_size"], self.total)))
        more = start + params["page_size"] < self.total
        count = min(self.total, self.window) if self.count is None else self.count
        return {"count": count, "next": "elsewhere" if more else None, "results": results}


@pytest.mark.parametrize("total, count, pages, full", [
    (25, None, 3, False),  # all read
    (40, None, 3, True),  # SCS offers a 4th page, past the window of 30
    (30, None, 3, True),  # a whole window: SCS's capped count cannot tell whether more hide behind it
    (25, "many", 3, False),  # a count that is not a number: the results read stand for it
])
def test_read_pages_is_the_one_paging_loop(total, count, pages, full):
    client = ScriptedPages(total, 30, count)
    read = list(read_pages(client, "rules/es/alerts_tail/", {"qfilter": "x"}, 10, window=30))
    assert client.asked == list(range(1, pages + 1)) and [page.last for page in read] == [False] * (pages - 1) + [True]
    assert read[-1].full is full and sum(len(page.results) for page in read) == min(total, 30)
    assert isinstance(read[0].count, int)
