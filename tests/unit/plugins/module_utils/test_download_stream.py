"""Downloads through the pipeline: the pcap checked as it streams (never read back), the deadline kept on a real
socket whose server dribbles, and what the callers get."""

import os
import socket
import struct
import threading
import time

import pytest

from ansible_collections.stamus.scs.plugins.module_utils import _errors as errors
from ansible_collections.stamus.scs.plugins.module_utils import _pcap_steps as pcap_steps
from ansible_collections.stamus.scs.plugins.module_utils import _pcap_verify
from ansible_collections.stamus.scs.plugins.module_utils._evidence_run import EvidenceRun
from ansible_collections.stamus.scs.plugins.module_utils._client import ScsClient

TOKEN = "tok-7408a4b978abdc03ee39e1fea419512e5734f51e"
DOWNLOAD = "/rest/rules/filestore_pcap/abc/download/"
FLOW = {"src_ip": "192.0.2.10", "src_port": 49152, "dest_ip": "198.51.100.7", "dest_port": 443, "proto": "TCP"}


def frame(src, dst, sport, dport):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return b"\x04" * 6 + b"\x02" * 6 + b"\x08\x00" + ip + struct.pack("!HHIIBBHHH", sport, dport, 0, 0, 0x50, 2, 0, 0, 0)


def pcap(frames):
    records = b"".join(struct.pack("<IIII", 1777716000 + index, 0, len(data), len(data)) + data
                       for index, data in enumerate(frames))
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + records


FORWARD = frame("192.0.2.10", "198.51.100.7", 49152, 443)
OTHER = frame("192.0.2.10", "198.51.100.7", 49153, 443)


@pytest.fixture
def client(fake_server):
    return ScsClient("https://scs.example.net", TOKEN, retries=0)


def test_pcap_is_checked_as_it_streams_and_never_read_back(client, fake_server, tmp_path, monkeypatch):
    body = pcap([FORWARD, OTHER] * 20000)  # 2.2 MiB
    fake_server.add("GET", DOWNLOAD, body=body, headers={"Content-Length": str(len(body))})
    summarize = _pcap_verify.summarize_pcap

    def no_reading_back(*args, **kwargs):
        raise AssertionError("the downloaded file was opened again")
    monkeypatch.setattr(_pcap_verify, "summarize_pcap", no_reading_back)
    monkeypatch.setattr(_pcap_verify, "open", no_reading_back, raising=False)
    dest = tmp_path / "abc.pcap"
    facts = pcap_steps.download(client, "abc", str(dest), five_tuple=FLOW)
    monkeypatch.undo()
    assert facts["pcap"] == summarize(str(dest), FLOW)
    assert (facts["pcap"]["packets"], facts["pcap"]["flow_packets"], facts["size"]) == (40000, 20000, len(body))


def test_malformed_five_tuple_is_refused_before_the_one_shot_download(client, fake_server, tmp_path):
    with pytest.raises(ValueError, match="src_ip"):
        pcap_steps.download(client, "abc", str(tmp_path / "abc.pcap"), five_tuple=dict(FLOW, src_ip="nope"))
    assert fake_server.calls == []


def test_not_a_pcap_is_refused_and_nothing_kept(client, fake_server, tmp_path):
    page = b"<!doctype html><html><body>Session expired</body></html>" * 1000
    fake_server.add("GET", DOWNLOAD, body=page, headers={"Content-Length": str(len(page))})
    with pytest.raises(_pcap_verify.PcapFormatError, match="looks like HTML"):
        pcap_steps.download(client, "abc", str(tmp_path / "abc.pcap"))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("on_flow_absent, outcome, kept", [("warn", "flow_absent", True), ("fail", "flow_absent", False)])
def test_alert_pcap_judges_the_streamed_summary(fake_server, tmp_path, monkeypatch, on_flow_absent, outcome, kept):
    monkeypatch.setattr(pcap_steps, "upload", lambda client, alert, probe: "abc")
    monkeypatch.setattr(pcap_steps, "extract", lambda client, filename, probe: {})
    monkeypatch.setattr(pcap_steps, "retrieve", lambda client, filename, probe: {})
    body = pcap([OTHER] * 3)
    fake_server.add("GET", DOWNLOAD, body=body, headers={"Content-Length": str(len(body))})
    run = EvidenceRun(lambda: ScsClient("https://scs.example.net", TOKEN, retries=0), str(tmp_path / "ev"),
                      on_flow_absent=on_flow_absent, context={"source": "https://scs.example.net", "collected_by": "test"})
    alert = dict(FLOW, _id="abc", host="probe-01", flow_id=7, capture_file="/x.pcap", timestamp="2026-05-02T10:00:00Z")
    [entry] = run.run([alert])["results"]
    assert entry["outcome"] == outcome, entry["message"]
    assert entry["packets"] == 3 and entry["flow_present"] is False, entry
    assert (entry["pcap"] is not None) == kept and os.path.exists(str(tmp_path / "ev" / "probe-01" / "7.pcap")) == kept


class DribblingServer:
    """A real HTTP server on 127.0.0.1 that announces ``length`` bytes, then sends one every ``pause`` seconds."""

    def __init__(self, length, pause):
        self.length, self.pause = length, pause
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.sock.getsockname()[1]

    def _serve(self):
        conn, _address = self.sock.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                         % self.length)
            conn.sendall(pcap([]))
            try:
                while not self.stop.wait(self.pause):
                    conn.sendall(b"\0")
            except OSError:
                pass  # the client hung up: what the test wants

    def close(self):
        self.stop.set()
        self.sock.close()


def test_download_timeout_ends_a_read_that_the_socket_timeout_never_would(tmp_path):
    """One byte every 50 ms always arrives within the 30 s read timeout; a buffer's read would wait for megabytes."""
    server = DribblingServer(length=10 << 20, pause=0.05)
    client = ScsClient(server.url, TOKEN, retries=0, timeout=30)
    started = time.monotonic()
    try:
        with pytest.raises(errors.ScsLimitError) as info:
            client.download("rules/filestore_pcap/abc/download/", str(tmp_path / "abc.pcap"), time_limit=0.6)
    finally:
        server.close()
    assert time.monotonic() - started < 3, time.monotonic() - started
    assert "longer than download_timeout (0.6 seconds)" in str(info.value) and os.listdir(tmp_path) == []
