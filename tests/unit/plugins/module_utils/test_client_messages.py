"""What transport errors say: urllib3's text cut at a word boundary, and a hint for http:// on a TLS port."""

import http.client

import pytest
import requests
import urllib3

from ansible_collections.stamus.scs.plugins.module_utils import _errors as errors
from ansible_collections.stamus.scs.plugins.module_utils._client import MESSAGE_BODY_LIMIT, ScsClient

TOKEN = "tok-7408a4b978abdc03ee39e1fea419512e5734f51e"
PATH = "/rest/appliances/template/"


def failure(fake_server, url, exc):
    fake_server.add("GET", PATH, exc=exc)
    with pytest.raises(errors.ScsTransportError) as info:
        ScsClient(url, TOKEN, retries=0).get_json("appliances/template/")
    return str(info.value)


def test_long_urllib3_text_is_cut_at_a_word_boundary(fake_server):
    pool = "HTTPSConnectionPool(host='scs.example.net', port=443): Max retries exceeded with url: %s" % PATH
    reason = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: " + "unreachable " * 40)
    message = failure(fake_server, "https://scs.example.net", requests.exceptions.ConnectionError(
        urllib3.exceptions.MaxRetryError(None, PATH, reason), pool))
    quoted = message.split("(", 1)[1].rsplit(")", 1)[0]
    assert quoted.endswith("...") and len(quoted) <= MESSAGE_BODY_LIMIT + 2
    assert quoted[:-3].split()[-1].strip("(,") in ("unreachable", "connection:")  # a whole word before the ellipsis


@pytest.mark.parametrize("url, hinted", [("http://scs.example.net:443", True), ("https://scs.example.net", False)])
def test_plain_http_to_a_tls_port_hints_https(fake_server, url, hinted):
    closed = requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
        "Connection aborted.", http.client.RemoteDisconnected("Remote end closed connection without response")))
    message = failure(fake_server, url, closed)
    assert ("if SCS serves HTTPS on this port, use https://." in message) is hinted
    tls_bytes = requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
        "Connection aborted.", http.client.BadStatusLine("\x15\x03\x03\x00\x02\x02\n")))
    message = failure(fake_server, url, tls_bytes)
    assert ("use https://" in message) is hinted and "\x15" not in message and TOKEN not in message
