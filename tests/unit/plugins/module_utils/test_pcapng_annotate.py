"""The annotated pcapng copy, read back with readers written independently of the writer: dpkt's pcapng blocks and,
when it is installed, tshark."""

import hashlib
import os
import shutil
import struct
import subprocess

import dpkt
import pytest

from pcapng_read import read_back

from ansible_collections.stamus.scs.plugins.module_utils import _files
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsLimitError
from ansible_collections.stamus.scs.plugins.module_utils._pcap_verify import SINK_PACKET_LIMIT, PcapFormatError, PcapStream
from ansible_collections.stamus.scs.plugins.module_utils._pcapng_annotate import (
    NEAREST_NOTE,
    SIGNATURE_CHARS,
    alert_microseconds,
    annotated_path,
    write_annotated,
)

CAPTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "captures")
TS = 1777716000  # 2026-05-02T10:00:00Z
CLIENT, SERVER = "192.0.2.10", "198.51.100.7"
FLOW = {"src_ip": CLIENT, "src_port": 49152, "dest_ip": SERVER, "dest_port": 443, "proto": "TCP"}
OTHER = {"src_ip": "192.0.2.99", "src_port": 40000, "dest_ip": SERVER, "dest_port": 443, "proto": "TCP"}
SHA = "ab" * 32


def frame(flow, to_server=True, payload=b"x"):
    src, dst = (flow["src_ip"], flow["dest_ip"]) if to_server else (flow["dest_ip"], flow["src_ip"])
    sport, dport = (flow["src_port"], flow["dest_port"]) if to_server else (flow["dest_port"], flow["src_port"])
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, flags=dpkt.tcp.TH_ACK, data=payload)
    ip = dpkt.ip.IP(src=bytes(map(int, src.split("."))), dst=bytes(map(int, dst.split("."))), p=6, data=tcp)
    ip.len = len(bytes(ip))
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=ip))


# (seconds, fraction in the file's resolution, frame): the flow, another flow at the same time, the flow again.
PACKETS = [(TS, 100, frame(FLOW, payload=b"hello")), (TS, 250, frame(OTHER)), (TS, 250, frame(FLOW, False)),
           (TS + 1, 7, frame(FLOW, payload=b"bye"))]


def classic_pcap(path, packets, nanoseconds=False, snaplen=65535):
    with open(path, "wb") as handle:
        handle.write(struct.pack("<IHHiIII", 0xA1B23C4D if nanoseconds else 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1))
        for seconds, fraction, data in packets:
            handle.write(struct.pack("<IIII", seconds, fraction, len(data), len(data)) + data)
    return path


def pcapng(path, packets, tsresol=9, big_endian=False):
    """A pcapng written here (not with the writer under test), in nanoseconds, optionally big-endian."""
    endian = ">" if big_endian else "<"

    def block(block_type, body):
        return struct.pack(endian + "II", block_type, 12 + len(body)) + body + struct.pack(endian + "I", 12 + len(body))

    out = [block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1)),
           block(1, struct.pack(endian + "HHI", 1, 0, 262144) + struct.pack(endian + "HH", 9, 1) + bytes((tsresol, 0, 0, 0))
                 + struct.pack(endian + "HH", 0, 0))]
    for seconds, fraction, data in packets:
        ticks = seconds * 10 ** tsresol + fraction
        pad = b"\0" * (-len(data) % 4)
        out.append(block(6, struct.pack(endian + "IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data + pad))
    with open(path, "wb") as handle:
        handle.write(b"".join(out))
    return path


def alert(micros_text, alert_id="a1", sid=2029743, signature="ET MALWARE Emotet CnC", severity=1, flow=None, **extra):
    doc = dict(flow or FLOW, _id=alert_id, timestamp=micros_text,
               alert={"gid": 1, "signature_id": sid, "rev": 2, "signature": signature, "severity": severity})
    doc.update(extra)
    return doc


def annotate(tmp_path, source, alerts, mode=0o640):
    dest = annotated_path(str(source))
    result = write_annotated(str(source), dest, alerts, SHA, "123.json", mode=mode)
    assert result["file"] == os.path.basename(dest)
    with open(dest, "rb") as handle:
        data = handle.read()
    assert result["sha256"] == hashlib.sha256(data).hexdigest() and result["size"] == len(data)
    return result, read_back(dest)


def test_path_beside_the_original():
    assert annotated_path("/srv/e/probe-01/123.pcap") == "/srv/e/probe-01/123.annotated.pcapng"


@pytest.mark.parametrize("nanoseconds", [False, True], ids=["pcap-us", "pcap-ns"])
def test_classic_pcap_copied_with_a_comment_on_the_alert_packet(tmp_path, nanoseconds):
    scale = 1000 if nanoseconds else 1
    packets = [(sec, frac * scale + (999 if nanoseconds else 0), data) for sec, frac, data in PACKETS]
    source = classic_pcap(tmp_path / "123.pcap", packets, nanoseconds=nanoseconds, snaplen=1500)
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    # The third packet (the flow's answer) shares its microsecond with a packet of another flow.
    result, (sections, interfaces, got) = annotate(tmp_path, source, [alert("2026-05-02T12:00:00.000250+0200")])
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    assert interfaces == [(1, 1500, 9 if nanoseconds else None)]
    assert [(ticks, data, length) for _i, ticks, data, length, _c in got] == [
        (sec * 1000000 * scale + frac, data, len(data)) for sec, frac, data in packets]
    assert [comments for *_rest, comments in got] == [[], [], [
        "stamus.scs alert [1:2029743:2] ET MALWARE Emotet CnC | severity 1 | alert time 2026-05-02T10:00:00.000250Z "
        "| id a1"], []]
    assert result["comments"] == 1 and result["unmatched"] == 0 and result["nearest"] == 0
    assert len(sections) == 1 and len(sections[0]) == 1
    assert "123.pcap (sha256 %s)" % SHA in sections[0][0] and "manifest 123.json" in sections[0][0]
    assert "stamus.scs/evidence-manifest/v1" in sections[0][0] and "1 at the alert time" in sections[0][0]


def test_pcapng_input_big_endian_nanoseconds(tmp_path):
    packets = [(sec, frac * 1000 + 5, data) for sec, frac, data in PACKETS]
    source = pcapng(tmp_path / "123.pcap", packets, big_endian=True)
    result, (_sections, interfaces, got) = annotate(tmp_path, source, [alert("2026-05-02T10:00:01.000007Z")])
    assert interfaces == [(1, 262144, 9)]
    assert [ticks for _i, ticks, *_rest in got] == [sec * 10 ** 9 + frac for sec, frac, _d in packets]
    assert [len(comments) for *_rest, comments in got] == [0, 0, 0, 1]
    assert result["comments"] == 1


def test_several_alerts_on_one_packet_get_one_comment_each_in_time_order(tmp_path):
    source = classic_pcap(tmp_path / "123.pcap", PACKETS)
    alerts = [alert("2026-05-02T10:00:00.000100+0000", "late", sid=2, signature="second"),
              alert("2026-05-02T10:00:00.000100Z", "early", sid=1, signature="first"),
              alert("2026-05-02T10:00:00.000100Z", "early", sid=1, signature="first")]  # the same alert twice
    alerts[0]["timestamp"] = "2026-05-02T10:00:00.000100+00:00"
    result, (_s, _i, got) = annotate(tmp_path, source, alerts)
    comments = got[0][4]
    assert len(comments) == 3  # one per alert given: deduplication is the caller's (the manifest's alerts are unique)
    assert all("alert time 2026-05-02T10:00:00.000100Z" in text for text in comments)
    assert result["comments"] == 3 and all(not packet[4] for packet in got[1:])


def test_no_exact_packet_goes_on_the_flows_last_earlier_packet_and_says_so(tmp_path):
    source = classic_pcap(tmp_path / "123.pcap", PACKETS)
    alerts = [alert("2026-05-02T10:00:00.900000Z", "between"),  # after packets 1-3, before 4: packet 3 (the flow's)
              alert("2026-05-02T09:59:59.000000Z", "before"),  # before every packet of the flow: unmatched
              alert("2026-05-02T10:00:00.000250Z", "other", flow=dict(OTHER, src_ip="192.0.2.98")),  # no such flow
              alert("not a time", "bad time"),
              dict(alert("2026-05-02T10:00:00.000100Z", "no tuple"), src_ip=None)]
    result, (sections, _i, got) = annotate(tmp_path, source, alerts)
    assert [len(packet[4]) for packet in got] == [0, 0, 1, 0]
    assert got[2][4][0].endswith("| id between | " + NEAREST_NOTE)
    assert (result["comments"], result["nearest"], result["unmatched"]) == (1, 1, 4)
    assert "0 at the alert time, 1 on the nearest earlier packet of the flow, 4 without a packet" in sections[0][0]


def test_millisecond_time_matches_a_packet_of_that_millisecond(tmp_path):
    source = classic_pcap(tmp_path / "123.pcap", PACKETS)
    in_ms = dict(alert(None), timestamp=None, **{"@timestamp": "2026-05-02T10:00:01.000Z"})
    result, (_s, _i, got) = annotate(tmp_path, source, [in_ms])
    assert [len(packet[4]) for packet in got] == [0, 0, 0, 1] and result["nearest"] == 0


def test_alert_times():
    assert alert_microseconds({"timestamp": "2026-05-02T12:00:00.000250+0200"}) == (TS * 10 ** 6 + 250, 1)
    assert alert_microseconds({"timestamp": "2026-05-02T10:00:00.123456789Z"}) == (TS * 10 ** 6 + 123456, 1)
    assert alert_microseconds({"@timestamp": "2026-05-02T10:00:00.5Z"}) == (TS * 10 ** 6 + 500000, 100000)
    for bad in ("2026-13-02T10:00:00Z", "2026-05-02T10:00:00+9999", "x", 12, None, "2026-05-02T10:00:00Z\n"):
        assert alert_microseconds({"timestamp": bad}) is None


def test_hostile_alert_text_is_printable_capped_utf8_and_never_templated(tmp_path):
    source = classic_pcap(tmp_path / "123.pcap", PACKETS)
    hostile = "\x1b]0;owned\x07{{ lookup('pipe', 'id') }}\r\n\u202eé\ud800" + "A" * 100000
    result, (_s, _i, got) = annotate(tmp_path, source, [alert("2026-05-02T10:00:00.000100Z", "x\x1b[31m{% raw %}",
                                                              signature=hostile, sid="1; rm", severity={"a": 1})])
    comment = got[0][4][0]
    assert "\x1b" not in comment and "\x07" not in comment and "\r" not in comment and "\u202e" not in comment
    assert "\\x1b]0;owned\\x07{{ lookup('pipe', 'id') }}  \\u202eé\\ud800AAA" in comment  # kept as text, escaped
    assert "[1:?:2]" in comment and "severity ?" in comment and "id x\\x1b[31m{% raw %}" in comment
    signature = comment.split("] ", 1)[1].split(" | severity", 1)[0]
    assert len(signature) <= SIGNATURE_CHARS and signature.endswith("...")
    assert result["comments"] == 1


@pytest.mark.parametrize("name, inner", [("vxlan_aws_mirroring.pcap", 0), ("geneve.pcapng", 0), ("gre_plain.pcap", 0)])
def test_tunnelled_flow_matched_on_its_inner_5_tuple(tmp_path, name, inner):
    source = tmp_path / "123.pcap"
    shutil.copyfile(os.path.join(CAPTURES, name), source)
    tcp4 = {"src_ip": "192.0.2.10", "src_port": 49152, "dest_ip": "198.51.100.7", "dest_port": 443, "proto": "TCP"}
    # make_captures.py writes packet i at TS + i: the TCP flow's second packet (its answer) is at TS + 1.
    result, (_s, _i, got) = annotate(tmp_path, source, [alert("2026-05-02T10:00:01.000000Z", flow=tcp4)])
    assert [len(packet[4]) for packet in got][:3] == [0, 1, 0] and result["comments"] == 1
    with open(source, "rb") as handle:
        reader = dpkt.pcapng.Reader(handle) if name.endswith(".pcapng") else dpkt.pcap.Reader(handle)
        assert [bytes(buf) for _ts, buf in reader] == [packet[2] for packet in got]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_shows_the_comments(tmp_path):
    source = classic_pcap(tmp_path / "123.pcap", PACKETS)
    annotate(tmp_path, source, [alert("2026-05-02T10:00:00.000100Z", "a1"), alert("2026-05-02T10:00:01.000007Z", "a2")])
    dest = annotated_path(str(source))
    shown = subprocess.run(["tshark", "-r", dest, "-Y", "frame.comment", "-T", "fields", "-e", "frame.number",
                            "-e", "frame.comment"], check=True, capture_output=True, text=True).stdout.splitlines()
    assert [line.split("\t")[0] for line in shown] == ["1", "4"]
    assert "| id a1" in shown[0] and "| id a2" in shown[1]
    section = subprocess.run(["capinfos", dest], check=True, capture_output=True, text=True).stdout \
        if shutil.which("capinfos") else None
    if section is not None:
        assert "Annotated copy of 123.pcap" in section


def test_nothing_left_when_the_write_fails(tmp_path, monkeypatch):
    source = classic_pcap(tmp_path / "123.pcap", PACKETS)
    dest = annotated_path(str(source))

    def full(_fd, _data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_files, "write_all", full)
    with pytest.raises(OSError):
        write_annotated(str(source), dest, [alert("2026-05-02T10:00:00.000100Z")], SHA, "123.json")
    assert sorted(os.listdir(tmp_path)) == ["123.pcap"]


def test_a_malformed_original_is_a_clear_error_and_nothing_is_written(tmp_path):
    source = classic_pcap(tmp_path / "123.pcap", PACKETS)
    source.write_bytes(source.read_bytes()[:-3])
    with pytest.raises(ScsLimitError, match="annotated copy of .*123.pcap: truncated"):
        write_annotated(str(source), annotated_path(str(source)), [], SHA, "123.json")
    assert sorted(os.listdir(tmp_path)) == ["123.pcap"]


def test_mode_and_memory_flat(tmp_path):
    big = [(TS + index // 1000, index % 1000, frame(FLOW, payload=b"z" * 1400)) for index in range(3000)]
    source = classic_pcap(tmp_path / "123.pcap", big)
    import tracemalloc  # pylint: disable=import-outside-toplevel
    tracemalloc.start()
    try:
        result = write_annotated(str(source), annotated_path(str(source)), [alert("2026-05-02T10:00:02.000999Z")], SHA,
                                 "123.json", mode=0o600)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert os.path.getsize(source) > 4 * 1024 * 1024 and peak < 2 * 1024 * 1024
    assert result["comments"] == 1
    assert os.stat(annotated_path(str(source))).st_mode & 0o777 == 0o600


class Recorder:
    """A PcapStream sink that records every call."""

    def __init__(self):
        self.calls = []

    def section(self, byte_order):
        self.calls.append(("section", byte_order))

    def interface(self, *fields):
        self.calls.append(("interface",) + fields)

    def packet(self, index, ticks, origlen, data):
        self.calls.append(("packet", index, ticks, origlen, bytes(data)))


@pytest.mark.parametrize("kind", ["pcap", "pcapng", "geneve"])
def test_sink_sees_the_same_packets_whatever_the_pieces(tmp_path, kind):
    if kind == "geneve":
        data = open(os.path.join(CAPTURES, "geneve.pcapng"), "rb").read()  # pylint: disable=consider-using-with
    else:
        write = classic_pcap if kind == "pcap" else pcapng
        data = write(tmp_path / "x", PACKETS).read_bytes()
    whole = Recorder()
    stream = PcapStream(sink=whole)
    stream.feed(data)
    summary = stream.finish()
    assert [call[0] for call in whole.calls].count("packet") == summary["packets"] > 0
    for size in (1, 7, 64):
        pieces = Recorder()
        stream = PcapStream(sink=pieces)
        for start in range(0, len(data), size):
            stream.feed(data[start:start + size])
        assert stream.finish() == summary and pieces.calls == whole.calls


def test_sink_refuses_a_packet_it_cannot_hold(tmp_path):
    huge = classic_pcap(tmp_path / "x", [(TS, 0, b"\0" * (SINK_PACKET_LIMIT + 1))], snaplen=SINK_PACKET_LIMIT * 2)
    assert PcapStream().feed(huge.read_bytes()) is None  # without a sink, only its headers are looked at
    with pytest.raises(PcapFormatError, match="more than the 262144 a copy of the capture handles"):
        PcapStream(sink=Recorder()).feed(huge.read_bytes())
