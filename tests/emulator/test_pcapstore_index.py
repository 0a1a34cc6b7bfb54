"""The pcap store's index: an extraction gives the bytes of reading every later file of the capture thread, while it
reads only the files of its flow and lists the store only when it changed."""

import os
import struct

import pytest

from scs_emulator import pcapstore

FLOWS = 60
FILE_SIZE = 2048


def udp_frame(flow, seq):
    """An Ethernet/IPv4/UDP frame of flow ``flow`` (10.0.<flow>.1:<2000+flow> -> 10.1.0.1:53)."""
    payload = struct.pack("!II", flow, seq) + b"x" * 80
    udp = struct.pack("!HHHH", 2000 + flow, 53, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                     bytes([10, 0, flow, 1]), bytes([10, 1, 0, 1]))
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp


def alert_of(flow, capture):
    return {"_id": "flow%d" % flow, "host": "probe-01", "proto": "UDP", "src_ip": "10.0.%d.1" % flow,
            "src_port": 2000 + flow, "dest_ip": "10.1.0.1", "dest_port": 53, "capture_file": pcapstore.alert_path(capture)}


def write(store, flows, rounds, start):
    """``rounds`` packets of each flow, interleaved, on capture thread 1 + flow % 2; returns {flow: first file}."""
    events = []
    for seq in range(rounds):
        for flow in flows:
            events.append((start + seq, 1 + flow % 2, start + seq + flow / 1000.0, udp_frame(flow, seq), (flow, seq)))
    placed = store.write(events)
    return {flow: placed[(flow, 0)] for flow in flows}


def read_every_later_file(root, alert):
    """The extraction as the probe's extractor defines it: every later file of the thread, in order."""
    name = os.path.basename(alert["capture_file"])
    first = next(f for f in pcapstore.list_files(root) if f.name == name)
    key = pcapstore.alert_key(alert)
    out = [pcapstore.GLOBAL_HEADER]
    for store_file in pcapstore.list_files(root):
        if store_file.thread == first.thread and store_file.sort_key >= first.sort_key:
            with open(store_file.path, "rb") as handle:
                data = handle.read()
            out += [data[off:off + length] for off, length, _s, _u, frame in pcapstore.iter_records(data)
                    if key in pcapstore.frame_keys(frame)]
    return b"".join(out)


def keys_of(path):
    with open(path, "rb") as handle:
        data = handle.read()
    return {key for _o, _l, _s, _u, frame in pcapstore.iter_records(data) for key in pcapstore.frame_keys(frame)}


@pytest.fixture
def counted(monkeypatch):
    """Counts of the store listings and of the files read (indexed) from now on."""
    counts = {"listings": 0, "files": []}
    list_files, indexed = pcapstore.list_files, pcapstore._indexed  # pylint: disable=protected-access

    def counting_list(root):
        counts["listings"] += 1
        return list_files(root)

    def counting_indexed(path):
        counts["files"].append(os.path.basename(path))
        return indexed(path)

    monkeypatch.setattr(pcapstore, "list_files", counting_list)
    monkeypatch.setattr(pcapstore, "_indexed", counting_indexed)
    monkeypatch.setattr(pcapstore, "RACY_SECONDS", 0.0)
    return counts


def test_extraction_reads_only_the_files_of_its_flow(tmp_path, counted):
    root = str(tmp_path / "fpc")
    store = pcapstore.PcapStore(root, file_size=FILE_SIZE, total_size=10 ** 9)
    first_files = write(store, range(FLOWS), 12, 1700000000)
    assert len(os.listdir(root)) > 40
    alerts = [alert_of(flow, first_files[flow]) for flow in range(FLOWS)]
    for alert in alerts:
        assert pcapstore.extract_for_alert(root, alert) == read_every_later_file(root, alert)
    counted["listings"], counted["files"] = 0, []
    alert = alerts[7]
    data = pcapstore.extract_for_alert(root, alert)
    assert counted["listings"] == 0  # the store did not change: no listing
    holding = [name for name in os.listdir(root) if pcapstore.alert_key(alert) in keys_of(os.path.join(root, name))]
    assert sorted(counted["files"]) == sorted(holding) and len(holding) < 20
    assert len(pcapstore.read_pcap(data)) == 12


def test_the_index_follows_new_packets_new_files_and_rotation(tmp_path, counted):
    root = str(tmp_path / "fpc")
    store = pcapstore.PcapStore(root, file_size=FILE_SIZE, total_size=10 ** 9)
    first_files = write(store, range(4), 3, 1700000000)
    alert = alert_of(2, first_files[2])
    before = len(pcapstore.read_pcap(pcapstore.extract_for_alert(root, alert)))
    write(store, [2], 1, 1700000100)  # appended to the thread's newest file
    assert len(pcapstore.read_pcap(pcapstore.extract_for_alert(root, alert))) == before + 1
    write(store, range(4), 30, 1700000200)  # new files
    assert pcapstore.extract_for_alert(root, alert) == read_every_later_file(root, alert)
    store.rotate(1)
    later = alert_of(2, pcapstore.list_files(root)[-1].name)
    assert pcapstore.extract_for_alert(root, later) == read_every_later_file(root, later)
