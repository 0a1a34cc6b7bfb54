"""The client's hardening (issue 11): bounded answers and downloads, deadlines, validated options, printable errors."""

import gzip
import io
import json
import logging
import os
import time
import zlib

import pytest
import urllib3

from ansible_collections.stamus.scs.plugins.module_utils import _evidence_run as batch_module
from ansible_collections.stamus.scs.plugins.module_utils import _client as client_module
from ansible_collections.stamus.scs.plugins.module_utils import _errors as errors
from ansible_collections.stamus.scs.plugins.module_utils import _files as files
from ansible_collections.stamus.scs.plugins.module_utils import _pcap_steps as pcap_steps
from ansible_collections.stamus.scs.plugins.module_utils._alert_source import LOG as SOURCE_LOG
from ansible_collections.stamus.scs.plugins.module_utils._alert_source import AlertSource
from ansible_collections.stamus.scs.plugins.module_utils._evidence_run import EvidenceRun
from ansible_collections.stamus.scs.plugins.module_utils._client import ScsClient
from ansible_collections.stamus.scs.plugins.module_utils._probe_api import resolve_api
from ansible_collections.stamus.scs.plugins.module_utils._apply import ApplyError, apply_changes, read_answer
from ansible_collections.stamus.scs.plugins.module_utils._probes import ProbeManager
from ansible_collections.stamus.scs.plugins.module_utils._text import printable

TOKEN = "tok-7408a4b978abdc03ee39e1fea419512e5734f51e"
ALERTS = "/rest/rules/es/alerts_tail/"
DOWNLOAD = "/rest/rules/filestore_pcap/abc/download/"
MIB = 1 << 20
CONTROLS = ("\x1b", "\x07", "\x9b", "\r", "\u202e")


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(fake_server, sleeps):
    return ScsClient("https://scs.example.net", TOKEN, retries=3, sleep=sleeps.append)


def gzip_bomb(size):
    """``size`` bytes of valid JSON, gzip-compressed (about size / 1000 bytes)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = b'{"count": 1, "next": null, "results": [{"_id": "bomb", "pad": "'
    parts = [compressor.compress(head)]
    block = b"a" * MIB
    for _block in range((size - len(head)) // MIB):
        parts.append(compressor.compress(block))
    parts.append(compressor.compress(b'"}]}') + compressor.flush())
    return b"".join(parts)


class Dribble:
    """A response body that arrives one byte every ``pause`` seconds."""

    def __init__(self, body, pause):
        self.body, self.pause, self.sent = body, pause, 0

    def read1(self, amt=None, decode_content=None):
        time.sleep(self.pause)
        piece = self.body[self.sent:self.sent + 1]
        self.sent += len(piece)
        return piece

    read = read1

    def readinto(self, buffer):
        piece = self.read1()
        buffer[:len(piece)] = piece
        return len(piece)

    def close(self):
        pass


class CountingBody(io.BytesIO):
    """A body that remembers how much of it was read, after it is closed too."""

    def __init__(self, data):
        super().__init__(data)
        self.served = 0

    def read1(self, size=-1):
        piece = super().read1(size)
        self.served += len(piece)
        return piece

    def read(self, size=-1):
        piece = super().read(size)
        self.served += len(piece)
        return piece


def serve_raw(fake_server, raw):
    original = fake_server._response

    def response(request, status, body, headers):
        answer = original(request, status, body, headers)
        answer.raw = raw
        return answer
    fake_server._response = response


# -- options checked before anything is sent --------------------------------------------------------------------

@pytest.mark.parametrize("token, words", [
    ("tok-abc\r\nX-Injected: 1", "line break"),
    ("tok-abc\x00def", "control character"),
    ("tok-abc\x1b[31m", "control character"),
    ("tok-\u20acuro-abc", "outside Latin-1"),
    ("tok-\u4e2d\u6587", "outside Latin-1"),
])
def test_unusable_token_is_refused_without_showing_it(fake_server, token, words):
    with pytest.raises(errors.ScsConfigError) as info:
        ScsClient("https://scs.example.net", token).get_json("rules/scirius_context/")
    message = str(info.value)
    assert words in message and "scs_token" in message
    assert "tok-" not in message and fake_server.calls == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 0, -1, "soon", None, True, 1e300])
def test_timeout_must_be_a_finite_positive_number(fake_server, value):
    with pytest.raises(errors.ScsConfigError, match="timeout must be a number of seconds greater than 0"):
        ScsClient("https://scs.example.net", TOKEN, timeout=value)


@pytest.mark.parametrize("value", [-1, 21, 2.5, None, True, float("nan")])
def test_retries_must_be_a_small_whole_number(fake_server, value):
    with pytest.raises(errors.ScsConfigError, match="retries must be a whole number between 0 and 20"):
        ScsClient("https://scs.example.net", TOKEN, retries=value)


def test_missing_ca_path_names_the_file_and_the_fix(fake_server, tmp_path):
    missing = str(tmp_path / "nowhere" / "ca.pem")
    with pytest.raises(errors.ScsConfigError) as info:
        ScsClient("https://scs.example.net", TOKEN, ca_path=missing)
    assert "ca_path %s does not exist" % missing in str(info.value) and "SCS_CA_PATH" in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not a certificate\n", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                     b"\x30\x82\x01\x0a\x02\x82"])
def test_ca_path_without_a_pem_certificate_is_a_config_error(fake_server, tmp_path, content):
    path = tmp_path / "ca.pem"
    path.write_bytes(content)
    with pytest.raises(errors.ScsConfigError) as info:
        ScsClient("https://scs.example.net", TOKEN, ca_path=str(path)).get_json("")
    assert "ca_path %s holds no certificate in PEM form" % path in str(info.value) and "openssl x509" in str(info.value)
    assert fake_server.calls == []


def test_ca_path_checks_accept_a_pem_file_or_a_directory_and_skip_when_unverified(fake_server, tmp_path, ca_pem):
    fake_server.add("GET", "/rest/", json={})
    ScsClient("https://scs", TOKEN, ca_path=ca_pem).get_json("")
    ScsClient("https://scs", TOKEN, ca_path=str(tmp_path)).get_json("")  # a c_rehash directory, as requests allows
    ScsClient("https://scs", TOKEN, ca_path=str(tmp_path / "missing"), validate_certs=False).get_json("")
    assert [call.verify for call in fake_server.calls] == [ca_pem, str(tmp_path), False]


def test_ca_path_that_is_not_a_regular_file(fake_server):
    with pytest.raises(errors.ScsConfigError, match="ca_path /dev/null is not a regular file"):
        ScsClient("https://scs", TOKEN, ca_path="/dev/null")


def test_any_exception_while_sending_is_typed_and_scrubbed(client, fake_server, sleeps):
    fake_server.add("GET", ALERTS, exc=ValueError("Invalid header value b'Token %s\\r\\n'" % TOKEN))
    with pytest.raises(errors.ScsTransportError) as info:
        client.get_json("rules/es/alerts_tail/")
    assert "could not be sent" in str(info.value) and TOKEN not in str(info.value) and "********" in str(info.value)
    assert len(fake_server.calls) == 1 and sleeps == []


def test_os_error_while_sending_is_typed(client, fake_server):
    fake_server.add("GET", ALERTS, exc=OSError("Could not find a suitable TLS CA certificate bundle, invalid path: x"))
    with pytest.raises(errors.ScsTransportError, match="could not be sent"):
        client.get_json("rules/es/alerts_tail/")


# -- JSON answers ---------------------------------------------------------------------------------------------

def test_gzip_json_is_decoded(client, fake_server):
    body = gzip.compress(b'{"count": 0, "next": null, "results": []}')
    fake_server.add("GET", ALERTS, body=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert client.get_json("rules/es/alerts_tail/") == {"count": 0, "next": None, "results": []}
    assert fake_server.calls[0].headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize("compress", [zlib.compress, lambda data: zlib.compress(data)[2:-4]], ids=["zlib", "raw deflate"])
def test_deflate_json_is_decoded(client, fake_server, compress):
    fake_server.add("GET", ALERTS, body=compress(b'{"count": 3}'), headers={"Content-Encoding": "deflate"})
    assert client.get_json("rules/es/alerts_tail/") == {"count": 3}


def test_gzip_bomb_stops_at_the_cap_and_is_not_retried(client, fake_server, sleeps):
    bomb = gzip_bomb(200 * MIB)
    assert len(bomb) < 400 * 1024
    fake_server.add("GET", ALERTS, body=bomb, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    with pytest.raises(errors.ScsLimitError) as info:
        client.get_json("rules/es/alerts_tail/")
    assert "GET /rest/rules/es/alerts_tail/" in str(info.value) and "larger than 64 MiB (67108864 bytes) once decoded" in str(info.value)
    assert "page_size" in str(info.value)
    assert len(fake_server.calls) == 1 and sleeps == []


def test_plain_json_over_the_cap_is_refused(client, fake_server, monkeypatch):
    monkeypatch.setattr(client_module, "MAX_JSON_BYTES", 1000)
    fake_server.add("GET", ALERTS, body=b'{"pad": "%s"}' % (b"a" * 2000,))
    with pytest.raises(errors.ScsLimitError, match="larger than 1000 bytes once decoded"):
        client.get_json("rules/es/alerts_tail/")


def test_unknown_or_corrupt_encoding_is_a_protocol_error(client, fake_server):
    fake_server.add("GET", ALERTS, body=b"\x00\x01", headers={"Content-Encoding": "br"}, times=1)
    with pytest.raises(errors.ScsProtocolError, match="cannot be decoded .Content-Encoding br"):
        client.get_json("rules/es/alerts_tail/")
    fake_server.add("GET", ALERTS, body=b"definitely not gzip", headers={"Content-Encoding": "gzip"})
    with pytest.raises(errors.ScsProtocolError, match="corrupt gzip data"):
        client.get_json("rules/es/alerts_tail/")


def test_deeply_nested_json_is_a_protocol_error(client, fake_server):
    fake_server.add("GET", ALERTS, body=b"[" * 200000 + b"]" * 200000)
    with pytest.raises(errors.ScsProtocolError, match="not JSON"):
        client.get_json("rules/es/alerts_tail/")


def test_a_dribbling_answer_ends_at_the_deadline(fake_server, sleeps):
    client = ScsClient("https://scs.example.net", TOKEN, retries=1, timeout=0.5, sleep=sleeps.append)
    fake_server.add("GET", ALERTS, body=b"")
    serve_raw(fake_server, Dribble(b'{"count": 0, "results": [], "pad": "' + b"a" * 200 + b'"}', 0.05))
    started = time.monotonic()
    with pytest.raises(errors.ScsTransportError) as info:
        client.get_json("rules/es/alerts_tail/")
    elapsed = time.monotonic() - started
    assert "still arriving after 0.5 seconds" in str(info.value) and "after 2 attempts" in str(info.value)
    assert elapsed < 2.0, elapsed  # two attempts of 0.5 s; reading it all would take 12 s


def test_error_body_is_read_only_in_part(client, fake_server):
    page = CountingBody(b"<html><body><h1>Broken</h1>" + b"<p>x</p>" * (4 * MIB) + b"</body></html>")
    fake_server.add("POST", "/rest/rules/filestore_pcap/upload/", status=500, body=b"")
    serve_raw(fake_server, urllib3.HTTPResponse(body=page, status=500, preload_content=False))
    with pytest.raises(errors.ScsServerError) as info:
        client.send_json("POST", "rules/filestore_pcap/upload/")
    assert "HTTP 500 (Broken x x x" in str(info.value) and len(str(info.value)) < 700
    assert page.served <= 2 * 64 * 1024  # of 32 MiB: only the start is shown, only the start is read


# -- control characters from the server ------------------------------------------------------------------------

EVIL = "bad\x1b]0;owned\x07\x1b[2J\x9b31m\r\nrm -rf \u202eevil"


@pytest.mark.parametrize("status, body", [
    (500, {"detail": EVIL}),
    (400, {"qfilter": [EVIL]}),
    (404, EVIL),
    (503, "<html><h1>%s</h1></html>" % EVIL),
])
def test_server_text_in_errors_has_no_control_character(fake_server, status, body):
    client = ScsClient("https://scs.example.net", TOKEN, retries=0)
    if isinstance(body, dict):
        fake_server.add("GET", ALERTS, status=status, json=body)
    else:
        fake_server.add("GET", ALERTS, status=status, body=body.encode(), headers={"Content-Type": "text/html"})
    with pytest.raises(errors.ScsError) as info:
        client.get_json("rules/es/alerts_tail/")
    message = str(info.value)
    assert not [char for char in CONTROLS if char in message], repr(message)
    assert "\\x1b]0;owned\\x07" in message and "\\u202eevil" in message


def test_redirect_location_is_printable(client, fake_server):
    fake_server.add("GET", ALERTS, status=302, headers={"Location": "https://x.example/\x1b[31mred"})
    with pytest.raises(errors.ScsProtocolError) as info:
        client.get_json("rules/es/alerts_tail/")
    assert "\x1b" not in str(info.value) and "\\x1b[31mred" in str(info.value)


def test_printable_keeps_text_and_spaces():
    assert printable("Unknown probe \"probe-1\" (été)") == "Unknown probe \"probe-1\" (été)"
    assert printable("a\tb\nc\r\nd") == "a b c  d"
    assert printable("\x1b[31m\x07\x00\x7f\x85\x9b\u200f\u2066") == "\\x1b[31m\\x07\\x00\\x7f \\x9b\\u200f\\u2066"


# -- downloads -------------------------------------------------------------------------------------------------

def test_download_asks_for_identity(client, fake_server, tmp_path):
    fake_server.add("GET", DOWNLOAD, body=b"x" * 100, headers={"Content-Length": "100"})
    client.download("rules/filestore_pcap/abc/download/", str(tmp_path / "abc.pcap"))
    assert fake_server.calls[0].headers["Accept-Encoding"] == "identity"


@pytest.mark.parametrize("length", [True, False], ids=["with Content-Length", "chunked"])
def test_encoded_download_is_refused_and_not_decoded(client, fake_server, tmp_path, length):
    body = gzip.compress(b"\xd4\xc3\xb2\xa1" + b"\x00" * (8 * MIB))
    headers = {"Content-Encoding": "gzip"}
    if length:
        headers["Content-Length"] = str(len(body))
    fake_server.add("GET", DOWNLOAD, body=body, headers=headers)
    with pytest.raises(errors.ScsLimitError) as info:
        client.download("rules/filestore_pcap/abc/download/", str(tmp_path / "abc.pcap"))
    assert "Content-Encoding gzip" in str(info.value) and "nothing was written" in str(info.value)
    assert os.listdir(tmp_path) == [] and len(fake_server.calls) == 1


def test_announced_size_over_max_size_is_refused_before_writing(client, fake_server, tmp_path, monkeypatch):
    writes = []
    monkeypatch.setattr(client_module.pipeline, "stream_to_file", lambda *args, **kwargs: writes.append(args))
    fake_server.add("GET", DOWNLOAD, body=b"x" * 5000, headers={"Content-Length": "5000"})
    with pytest.raises(errors.ScsLimitError) as info:
        client.download("rules/filestore_pcap/abc/download/", str(tmp_path / "abc.pcap"), max_size=4096)
    assert "the file is 4.9 KiB (5000 bytes), more than max_size (4 KiB (4096 bytes))" in str(info.value)
    assert writes == [] and os.listdir(tmp_path) == []


def test_body_growing_past_max_size_is_stopped(client, fake_server, tmp_path):
    source = CountingBody(b"x" * (3 * MIB))
    fake_server.add("GET", DOWNLOAD, body=b"")
    serve_raw(fake_server, urllib3.HTTPResponse(body=source, status=200, preload_content=False))  # no Content-Length
    with pytest.raises(errors.ScsLimitError, match="grew past max_size"):
        client.download("rules/filestore_pcap/abc/download/", str(tmp_path / "abc.pcap"), max_size=MIB, buffer_size=64 * 1024)
    assert os.listdir(tmp_path) == [] and source.served == MIB + 1  # reads never ask for more than one byte too many


def test_body_longer_than_announced_is_stopped(client, fake_server, tmp_path):
    fake_server.add("GET", DOWNLOAD, body=b"x" * (2 * MIB), headers={"Content-Length": "1000"})
    with pytest.raises(errors.ScsLimitError, match="more than the 1000 bytes it announced"):
        client.download("rules/filestore_pcap/abc/download/", str(tmp_path / "abc.pcap"))
    assert os.listdir(tmp_path) == []


def test_download_that_cannot_fit_is_refused_with_both_sizes(client, fake_server, tmp_path, monkeypatch):
    monkeypatch.setattr(client_module, "free_space", lambda directory: 1000 if directory == str(tmp_path) else None)
    fake_server.add("GET", DOWNLOAD, body=b"x" * 5000, headers={"Content-Length": "5000"})
    with pytest.raises(errors.ScsLimitError) as info:
        client.download("rules/filestore_pcap/abc/download/", str(tmp_path / "abc.pcap"))
    assert "the file is 4.9 KiB (5000 bytes) but %s has only 1000 bytes free" % tmp_path in str(info.value)
    assert os.listdir(tmp_path) == []


def test_free_space_is_that_of_the_filesystem(tmp_path):
    """What an unprivileged writer may use (f_bavail, not f_bfree); other jobs write beside this test, so the value
    is compared with the filesystem's within 64 MiB rather than to the byte."""
    info = os.statvfs(str(tmp_path))
    assert abs(files.free_space(str(tmp_path)) - info.f_bavail * info.f_frsize) <= 64 * MIB
    assert files.free_space(str(tmp_path / "missing")) is None


def test_download_stops_at_its_time_limit(client, fake_server, tmp_path):
    fake_server.add("GET", DOWNLOAD, body=b"")
    serve_raw(fake_server, Dribble(b"x" * 1000, 0.05))
    started = time.monotonic()
    with pytest.raises(errors.ScsLimitError) as info:
        client.download("rules/filestore_pcap/abc/download/", str(tmp_path / "abc.pcap"), time_limit=0.5)
    assert time.monotonic() - started < 1.5
    assert "longer than download_timeout (0.5 seconds)" in str(info.value) and os.listdir(tmp_path) == []


# -- temporary files left by killed runs -------------------------------------------------------------------------

def part(directory, name, host=None, pid=None, age=0.0):
    path = directory / (".%s.%s-%d.abcd1234.part" % (name, host or files.HOST_TAG, pid or os.getpid()))
    path.write_bytes(b"partial")
    if age:
        stamp = time.time() - age
        os.utime(str(path), (stamp, stamp))
    return path


def dead_pid():
    pid = os.fork()
    if pid == 0:
        os._exit(0)  # pylint: disable=protected-access
    os.waitpid(pid, 0)
    return pid


def test_temporary_name_carries_the_writer(tmp_path):
    seen = []

    def chunks():
        seen.extend(os.listdir(tmp_path))
        yield b"data"
    files.atomic_write_chunks(str(tmp_path / "12.pcap"), chunks())
    [name] = seen
    match = files.PART_RE.match(name)
    assert match and match.group("name") == "12.pcap" and int(match.group("pid")) == os.getpid()
    assert match.group("host") == files.HOST_TAG


def test_stale_parts_of_gone_writers_are_removed_and_nothing_else(tmp_path):
    gone = dead_pid()
    stale = part(tmp_path, "a.pcap", pid=gone)
    live = part(tmp_path, "a.pcap", pid=os.getppid())
    mine = part(tmp_path, "a.pcap")
    other_name = part(tmp_path, "b.pcap", pid=gone)
    other_host = part(tmp_path, "a.pcap", host="0badc0de", pid=gone)
    old_other_host = part(tmp_path, "a.pcap", host="0badc0de", pid=4242, age=2 * 86400)
    lookalikes = [tmp_path / name for name in (".a.pcap.part", "a.pcap.%s-%d.abcd1234.part" % (files.HOST_TAG, gone),
                                               ".a.pcap.%s-%d.abcd1234.tmp" % (files.HOST_TAG, gone))]
    for path in lookalikes:
        path.write_bytes(b"x")
    removed = files.remove_stale_parts(str(tmp_path), name="a.pcap")
    assert sorted(removed) == sorted([str(stale), str(old_other_host)])
    for path in [live, mine, other_name, other_host] + lookalikes:
        assert path.exists(), path
    assert files.remove_stale_parts(str(tmp_path)) == [str(other_name)]


def test_stale_parts_in_probe_directories_never_through_links(tmp_path):
    gone = dead_pid()
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    (dest / "probe-01").mkdir(parents=True)
    outside.mkdir()
    (dest / "probe-02").symlink_to(outside)
    in_probe = part(dest / "probe-01", "12.pcap", pid=gone)
    manifest = part(dest / "probe-01", "12.json", pid=gone)
    behind_link = part(outside, "13.pcap", pid=gone)
    assert sorted(files.remove_stale_parts(str(dest), depth=1)) == sorted([str(in_probe), str(manifest)])
    assert behind_link.exists()


# -- what the callers quote from the server -----------------------------------------------------------------------

def test_step_error_is_quoted_printable(client, fake_server):
    fake_server.add("POST", "/rest/rules/filestore_pcap/abc/extract_pcap/", status=400, json={"error": EVIL})
    with pytest.raises(pcap_steps.ScsStepError) as info:
        pcap_steps.extract(client, "abc", "probe-01")
    message = str(info.value)
    assert not [char for char in CONTROLS if char in message] and "SCS said 'bad\\x1b]0;owned\\x07" in message
    detail = json.dumps(info.value.to_result()["api_detail"], ensure_ascii=False)
    assert not [char for char in CONTROLS if char in detail]


def test_apply_report_is_printable(fake_server):
    manager = ProbeManager(ScsClient("https://scs.example.net", TOKEN), resolve_api(), sleep=lambda seconds: None)
    fake_server.add("GET", "/rest/appliances/probe/", json={"count": 0, "next": None, "results": []})
    fake_server.add("POST", "/rest/appliances/probe/update_push_all/", json={"task_pk": 9})
    fake_server.add("GET", "/rest/appliances/task/9/", json={"pk": 9, "status": "finished", "success": False, "results": [
        {"probe": "p\x1b[1m2", "status": "failed", "message": EVIL}]})
    with pytest.raises(ApplyError) as info:
        apply_changes(manager)
    shown = str(info.value) + json.dumps(info.value.to_result(), ensure_ascii=False)
    assert not [char for char in CONTROLS if char in shown] and "p\\x1b[1m2 failed: bad\\x1b]0;owned" in str(info.value)


@pytest.mark.parametrize("answer", [{"task_pk": "../../x"}, {"task_pk": "9\x1b[2J"}, {"task_pk": True}, {}])
def test_unusable_task_pk_is_refused(fake_server, answer):
    manager = ProbeManager(ScsClient("https://scs.example.net", TOKEN), resolve_api())
    fake_server.add("GET", "/rest/appliances/probe/", json={"count": 0, "next": None, "results": []})
    fake_server.add("POST", "/rest/appliances/probe/update_push_all/", json=answer)
    with pytest.raises(errors.ScsProtocolError, match="without a usable task_pk") as info:
        read_answer(manager.push(), "POST /rest/%s" % manager.apply_path)
    assert "\x1b" not in str(info.value) and len(fake_server.calls) == 2


def test_event_source_refuses_a_bad_token_and_logs_server_text_printable(fake_server, caplog):
    with pytest.raises(errors.ScsConfigError) as info:
        AlertSource.from_args({"scs_url": "https://scs.example.net", "scs_token": "tok-SECRET\r\nX: y"}, environ={})
    assert "tok-SECRET" not in str(info.value) and "line break" in str(info.value)
    fake_server.add("GET", ALERTS, status=503, json={"detail": EVIL})
    with caplog.at_level(logging.INFO, logger=SOURCE_LOG.name):
        source = AlertSource.from_args({"scs_url": "https://scs.example.net", "scs_token": TOKEN, "retries": 0}, environ={})
        source.step()
        source.poller.warn("Skipped alert %s" % EVIL)
    logged = [record.getMessage() for record in caplog.records]
    assert any("owned" in message for message in logged) and len([m for m in logged if "owned" in m]) == 2
    assert not [message for message in logged if any(char in message for char in CONTROLS)], logged


def test_event_source_stops_at_start_on_a_too_large_answer(fake_server, monkeypatch):
    monkeypatch.setattr(client_module, "MAX_JSON_BYTES", 100)
    fake_server.add("GET", ALERTS, json={"count": 0, "next": None, "results": [], "pad": "a" * 200})
    source = AlertSource.from_args({"scs_url": "https://scs.example.net", "scs_token": TOKEN, "since": "1h"}, environ={})
    with pytest.raises(errors.ScsLimitError, match="page_size"):
        source.step()


def test_unexpected_error_of_one_flow_is_scrubbed(fake_server, tmp_path, monkeypatch):
    def broken(client, alert, probe):
        raise RuntimeError("bug near Token %s\x1b[2J" % TOKEN)
    monkeypatch.setattr(batch_module.steps, "upload", broken)
    run = EvidenceRun(lambda: ScsClient("https://scs.example.net", TOKEN), str(tmp_path), context={})
    alert = {"_id": "abc", "host": "probe-01", "flow_id": 7, "capture_file": "/x.pcap"}
    [entry] = run.run([alert])["results"]
    assert entry["outcome"] == "failed" and entry["message"].startswith("Unexpected RuntimeError while fetching flow 7")
    assert TOKEN not in entry["message"] and "\x1b" not in entry["message"] and "********" in entry["message"]


def test_event_source_removes_the_state_part_a_killed_source_left(fake_server, tmp_path):
    state_file = tmp_path / "state.json"
    stale = part(tmp_path, "state.json", pid=dead_pid())
    other = part(tmp_path, "other.json", pid=dead_pid())
    AlertSource.from_args({"scs_url": "https://scs.example.net", "scs_token": TOKEN, "state_file": str(state_file)},
                          environ={})
    assert not stale.exists() and other.exists()
