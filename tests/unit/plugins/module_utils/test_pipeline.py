"""The download pipeline: ring of buffers, writer/hasher/checker threads, write-back, and nothing partial on failure."""

import errno
import hashlib
import os
import struct
import threading
import tracemalloc

import pytest

from ansible_collections.stamus.scs.plugins.module_utils import _pipeline as pipeline
from ansible_collections.stamus.scs.plugins.module_utils import _writeback as writeback
from ansible_collections.stamus.scs.plugins.module_utils._files import PART_RE
from ansible_collections.stamus.scs.plugins.module_utils._pcap_verify import PcapFormatError, PcapStream, summarize_pcap

MIB = 1 << 20
RECORD = struct.pack("<IIII", 1777716000, 0, 60, 60) + bytes(range(60))
HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def pcap_bytes(packets):
    return HEADER + RECORD * packets


class Body:
    """``fill`` of a body in memory, handing out at most ``step`` bytes per call; remembers the threads it ran on."""

    def __init__(self, data, step=None, fail_at=None):
        self.data, self.step, self.fail_at = memoryview(data), step, fail_at
        self.sent = 0
        self.threads = set()

    def __call__(self, view):
        self.threads.add(threading.get_ident())
        if self.fail_at is not None and self.sent >= self.fail_at:
            raise ConnectionResetError("reset by peer")
        size = min(len(view), len(self.data) - self.sent, self.step or len(view))
        view[:size] = self.data[self.sent:self.sent + size]
        self.sent += size
        return size


def leftovers(directory):
    return sorted(name for name in os.listdir(directory) if PART_RE.match(name))


@pytest.mark.parametrize("length, plan", [
    (0, (1, 1)),
    (24, (24, 1)),
    (1000, (1000, 1)),
    (5 * MIB, (4 * MIB, 2)),
    (1 << 30, (4 * MIB, 4)),
    (None, (4 * MIB, 4)),
])
def test_buffers_follow_the_announced_size(length, plan):
    assert pipeline.ring_plan(length) == plan


def test_streamed_file_is_whole_hashed_checked_and_private(tmp_path):
    data = pcap_bytes(50000)  # 3.8 MiB
    dest = tmp_path / "a.pcap"
    size, digest, summary = pipeline.stream_to_file(str(dest), Body(data, step=100003), len(data), mode=0o600,
                                                    check=PcapStream(), buffer_size=MIB)
    assert dest.read_bytes() == data and size == len(data) and digest == hashlib.sha256(data).hexdigest()
    assert summary == summarize_pcap(str(dest)) and summary["packets"] == 50000
    assert oct(dest.stat().st_mode & 0o777) == "0o600" and os.listdir(tmp_path) == ["a.pcap"]


def test_receiving_writing_hashing_and_checking_run_on_their_own_threads(tmp_path, monkeypatch):
    seen = {}

    def spy(name, function):
        def work(*args):
            seen.setdefault(name, set()).add(threading.get_ident())
            return function(*args)
        return work

    real_sha256 = hashlib.sha256

    class Sha:
        def __init__(self):
            self._hash = real_sha256()
            self.update = spy("hash", self._hash.update)
            self.hexdigest = self._hash.hexdigest

    check = PcapStream()
    check.feed = spy("check", check.feed)
    monkeypatch.setattr(pipeline, "write_all", spy("write", pipeline.write_all))
    monkeypatch.setattr(pipeline.hashlib, "sha256", Sha)
    body = Body(pcap_bytes(20000))
    pipeline.stream_to_file(str(tmp_path / "a.pcap"), body, None, check=check, buffer_size=256 * 1024)
    threads = [body.threads] + [seen[name] for name in ("write", "hash", "check")]
    assert all(len(ids) == 1 for ids in threads) and len(set().union(*threads)) == 4, seen


def test_memory_is_the_ring_whatever_the_size(tmp_path):
    data = pcap_bytes(600000)  # 45 MiB: the ring is 4 x 1 MiB here
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        pipeline.stream_to_file(str(tmp_path / "a.pcap"), Body(data), len(data), check=PcapStream(), buffer_size=MIB)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB + 512 * 1024, peak


# -- a failure in any stage leaves nothing, and the previous file as it was ---------------------------------------

def previous(tmp_path):
    dest = tmp_path / "a.pcap"
    dest.write_bytes(b"previous")
    return dest


def test_failure_while_receiving(tmp_path):
    dest = previous(tmp_path)
    with pytest.raises(ConnectionResetError):
        pipeline.stream_to_file(str(dest), Body(pcap_bytes(40000), fail_at=MIB), None, check=PcapStream(),
                                buffer_size=256 * 1024)
    assert dest.read_bytes() == b"previous" and leftovers(tmp_path) == []


def test_failure_while_writing(tmp_path, monkeypatch):
    dest = previous(tmp_path)
    real_write = os.write
    written = []

    def write(fd, data):
        if sum(written) >= MIB:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(len(data))
        return real_write(fd, data)
    monkeypatch.setattr(os, "write", write)
    body = Body(pcap_bytes(100000))
    with pytest.raises(OSError, match="No space left on device"):
        pipeline.stream_to_file(str(dest), body, None, check=PcapStream(), buffer_size=256 * 1024)
    assert dest.read_bytes() == b"previous" and leftovers(tmp_path) == []
    assert body.sent < len(body.data)  # the transfer stopped there


def test_failure_while_hashing(tmp_path, monkeypatch):
    dest = previous(tmp_path)

    class BrokenHash:
        def update(self, data):
            raise MemoryError("hash")
    monkeypatch.setattr(pipeline.hashlib, "sha256", BrokenHash)
    with pytest.raises(MemoryError, match="hash"):
        pipeline.stream_to_file(str(dest), Body(pcap_bytes(1000)), None, check=PcapStream())
    assert dest.read_bytes() == b"previous" and leftovers(tmp_path) == []


def test_failure_of_the_check_stops_the_transfer_early(tmp_path):
    dest = previous(tmp_path)
    page = b"<html><body>" + b"<p>Please log in</p>" * 200000  # 4 MiB of a login page
    body = Body(page)
    with pytest.raises(PcapFormatError, match="looks like HTML"):
        pipeline.stream_to_file(str(dest), body, len(page), check=PcapStream(), buffer_size=64 * 1024)
    assert dest.read_bytes() == b"previous" and leftovers(tmp_path) == []
    assert body.sent <= 6 * 64 * 1024  # not the whole body: the ring drains, then the receiver sees the failure


def test_truncated_capture_is_refused_at_its_end(tmp_path):
    data = pcap_bytes(1000)[:-7]
    with pytest.raises(PcapFormatError, match="truncated: packet 1000 at offset"):
        pipeline.stream_to_file(str(tmp_path / "a.pcap"), Body(data), len(data), check=PcapStream())
    assert os.listdir(tmp_path) == []


def test_refusal_by_accept_gets_the_summary_and_leaves_nothing(tmp_path):
    dest = previous(tmp_path)
    seen = []

    def refuse(summary):
        seen.append(summary)
        raise ValueError("not this one")
    data = pcap_bytes(0)
    with pytest.raises(ValueError, match="not this one"):
        pipeline.stream_to_file(str(dest), Body(data), len(data), check=PcapStream(), accept=refuse)
    assert seen[0]["header_only"] is True and dest.read_bytes() == b"previous" and leftovers(tmp_path) == []


def test_bytes_of_another_sha256_than_expected_are_not_kept(tmp_path):
    dest = previous(tmp_path)
    data = b"extracted file" * 1000
    with pytest.raises(pipeline.DigestMismatch) as raised:
        pipeline.stream_to_file(str(dest), Body(data), len(data), expect_sha256=hashlib.sha256(b"other").hexdigest())
    assert str(raised.value) == hashlib.sha256(data).hexdigest()
    assert dest.read_bytes() == b"previous" and leftovers(tmp_path) == []
    size, digest, _summary = pipeline.stream_to_file(str(dest), Body(data), len(data),
                                                     expect_sha256=hashlib.sha256(data).hexdigest())
    assert dest.read_bytes() == data and size == len(data) and digest == hashlib.sha256(data).hexdigest()


def test_failure_of_the_final_fsync(tmp_path, monkeypatch):
    dest = previous(tmp_path)

    def fsync(fd):
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match="Input/output error"):
        pipeline.stream_to_file(str(dest), Body(pcap_bytes(10)), None, check=PcapStream())
    assert dest.read_bytes() == b"previous" and leftovers(tmp_path) == []


def test_interrupt_while_receiving_stops_the_threads(tmp_path):
    before = threading.active_count()

    def fill(view):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        pipeline.stream_to_file(str(tmp_path / "a.pcap"), fill, None, check=PcapStream())
    assert os.listdir(tmp_path) == [] and threading.active_count() == before


# -- write-back during the transfer ----------------------------------------------------------------------------

class SyncSpy:
    def __init__(self, refuse=False):
        self.calls, self.refuse = [], refuse

    def __call__(self, fd, offset, nbytes, flags):
        self.calls.append((offset, nbytes, flags))
        if self.refuse:
            raise OSError(errno.EINVAL, "Invalid argument")


def test_write_back_runs_behind_the_writer_and_drops_what_is_on_disk(tmp_path, monkeypatch):
    sync, dropped = SyncSpy(), []
    monkeypatch.setattr(writeback, "_LOADED", [sync])
    monkeypatch.setattr(writeback.os, "posix_fadvise", lambda fd, offset, length, advice: dropped.append((offset, length, advice)))
    monkeypatch.setattr(writeback, "STEP", MIB)
    monkeypatch.setattr(pipeline.WriteBack.__init__, "__defaults__", (MIB,))
    data = pcap_bytes(60000)  # 4.6 MiB, in 512 KiB buffers
    pipeline.stream_to_file(str(tmp_path / "a.pcap"), Body(data), len(data), check=PcapStream(), buffer_size=512 * 1024)
    start, wait = writeback.SYNC_FILE_RANGE_WRITE, 1 | 2 | 4
    assert sync.calls == [(0, MIB, start),
                          (MIB, MIB, start), (0, MIB, wait),
                          (2 * MIB, MIB, start), (MIB, MIB, wait),
                          (3 * MIB, MIB, start), (2 * MIB, MIB, wait)]
    dontneed = os.POSIX_FADV_DONTNEED
    assert dropped == [(0, MIB, dontneed), (MIB, MIB, dontneed), (2 * MIB, MIB, dontneed), (3 * MIB, 0, dontneed)]
    assert (tmp_path / "a.pcap").read_bytes() == data


@pytest.mark.parametrize("sync", [None, SyncSpy(refuse=True)], ids=["unavailable", "refused"])
def test_without_write_back_the_file_is_still_whole_and_fsynced(tmp_path, monkeypatch, sync):
    fsyncs, dropped = [], []
    real_fsync = os.fsync
    monkeypatch.setattr(writeback, "_LOADED", [sync])
    monkeypatch.setattr(writeback.os, "posix_fadvise", lambda *args: dropped.append(args))
    monkeypatch.setattr(os, "fsync", lambda fd: fsyncs.append(fd) or real_fsync(fd))
    monkeypatch.setattr(pipeline.WriteBack.__init__, "__defaults__", (MIB,))
    data = pcap_bytes(60000)
    size, digest, _summary = pipeline.stream_to_file(str(tmp_path / "a.pcap"), Body(data), len(data), check=PcapStream(),
                                                     buffer_size=512 * 1024)
    assert (tmp_path / "a.pcap").read_bytes() == data and digest == hashlib.sha256(data).hexdigest() and size == len(data)
    assert fsyncs and dropped == []
    if sync is not None:
        assert len(sync.calls) == 1  # refused once, then never asked again


def test_write_back_is_found_on_linux_and_works_on_a_real_file(tmp_path):
    function = writeback.sync_file_range_function()
    if not os.uname().sysname == "Linux":
        assert function is None
        return
    assert function is not None
    fd = os.open(str(tmp_path / "f"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        back = writeback.WriteBack(fd, step=MIB)
        for total in range(1, 5):
            os.write(fd, b"x" * MIB)
            back.written(total * MIB)
        os.fsync(fd)
        back.synced()
        assert back.active
    finally:
        os.close(fd)
    with pytest.raises(OSError):
        function(-1, 0, 0, writeback.SYNC_FILE_RANGE_WRITE)  # errors come back as OSError (EBADF)


def test_write_back_falls_back_off_linux(monkeypatch):
    monkeypatch.setattr(writeback.sys, "platform", "darwin")
    assert writeback._libc_sync_file_range() is None  # pylint: disable=protected-access
