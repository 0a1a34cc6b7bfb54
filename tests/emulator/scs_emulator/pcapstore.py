"""The probes' conditional pcap stores: writing, rotation, indexing and extraction.

Pure code (no Django). One store per probe, a directory of classic pcap files named
`log-<epoch>-<thread>.pcap` (Suricata pcap-log "multi" mode), rotated at a per-file size and
trimmed to a total size (oldest files deleted). Alerts name their file with the probe-side path
`/var/log/suricata/fpc/<name>`.

Extraction works like the probe's extractor: the packets of the alert's 5-tuple (both
directions, on the outer packet or inside a tunnel; for an alert with a `tunnel` object, only
inside that tunnel) from `capture_file` and the later files of the same capture thread, written as a
classic pcap (magic d4c3b2a1, linktype 1, snaplen 65536). `extract_for_alert(store_dir, alert)`
is the pure function the tests use to compute the expected bytes.

A store is indexed (`StoreIndex`): which files hold packets of which 5-tuple, so that an extraction
reads only the files of its flow, whatever the size of the store. The index follows the directory
(files added or deleted) and each thread's newest file (the only one that grows).
"""

import collections
import dataclasses
import os
import posixpath
import re
import struct
import threading
import time

from . import frames, tunnels

ALERT_PCAP_DIR = "/var/log/suricata/fpc"
FILE_RE = re.compile(r"^log-(\d+)-(\d+)\.pcap$")
SNAPLEN = 65536
LINKTYPE_ETHERNET = 1
GLOBAL_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
RECORD = struct.Struct("<IIII")
PORT_PROTOS = (6, 17, 132)


class ExtractionError(Exception):
    """The extraction cannot be done; str(exc) is the `error` text SCS answers."""


class CaptureFileRotated(ExtractionError):
    pass


class NoCaptureFile(ExtractionError):
    pass


@dataclasses.dataclass(frozen=True)
class StoreFile:
    name: str
    epoch: int
    thread: int
    path: str

    @property
    def sort_key(self):
        return (self.epoch, self.thread, self.name)


def store_dir(data_dir, probe_name):
    return os.path.join(data_dir, "probes", probe_name, "fpc")


def alert_path(name):
    return posixpath.join(ALERT_PCAP_DIR, name)


def list_files(root):
    out = []
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return out
    for name in names:
        match = FILE_RE.match(name)
        if match:
            out.append(StoreFile(name, int(match.group(1)), int(match.group(2)), os.path.join(root, name)))
    out.sort(key=lambda f: f.sort_key)
    return out


class PcapStore:
    """Writer side of one probe's store. Callers serialize access with `lock`."""

    _locks = {}
    _locks_guard = threading.Lock()

    def __init__(self, root, file_size=65536, total_size=262144):
        self.root = root
        self.file_size = int(file_size)
        self.total_size = int(total_size)
        with self._locks_guard:
            self.lock = self._locks.setdefault(root, threading.RLock())

    def files(self):
        return list_files(self.root)

    def current(self, thread):
        own = [f for f in self.files() if f.thread == thread]
        return own[-1] if own else None

    def write(self, events):
        """Append packets to the store, rotating as needed.

        events: iterable of (write_ts, thread, pkt_ts, frame, tag), in write order.
        Returns {tag: file name} for the events whose tag is not None.
        """
        os.makedirs(self.root, exist_ok=True)
        files = self.files()
        sizes = {f.name: os.path.getsize(f.path) for f in files}
        current = {}
        last_epoch = {}
        for f in files:
            current[f.thread] = f
            last_epoch[f.thread] = max(last_epoch.get(f.thread, 0), f.epoch)
        handles = {}
        placed = {}
        try:
            for write_ts, thread, pkt_ts, frame, tag in events:
                cur = current.get(thread)
                need = RECORD.size + len(frame)
                if cur is None or (sizes[cur.name] + need > self.file_size and sizes[cur.name] > len(GLOBAL_HEADER)):
                    if thread in handles:
                        handles.pop(thread).close()
                    epoch = int(write_ts)
                    if thread in last_epoch and epoch <= last_epoch[thread]:
                        epoch = last_epoch[thread] + 1
                    last_epoch[thread] = epoch
                    name = "log-%d-%d.pcap" % (epoch, thread)
                    cur = StoreFile(name, epoch, thread, os.path.join(self.root, name))
                    with open(cur.path, "wb") as fh:
                        fh.write(GLOBAL_HEADER)
                    sizes[name] = len(GLOBAL_HEADER)
                    current[thread] = cur
                    self._trim(sizes, current, handles)
                fh = handles.get(thread)
                if fh is None:
                    fh = handles[thread] = open(cur.path, "ab")  # pylint: disable=consider-using-with
                sec = int(pkt_ts)
                usec = int(round((pkt_ts - sec) * 1e6))
                if usec >= 1000000:
                    sec, usec = sec + 1, usec - 1000000
                fh.write(RECORD.pack(sec, usec, len(frame), len(frame)) + frame)
                sizes[cur.name] += need
                if tag is not None:
                    placed[tag] = cur.name
            self._trim(sizes, current, handles)
        finally:
            for fh in handles.values():
                fh.close()
        return placed

    def _trim(self, sizes, current, handles):
        """Delete the oldest files (never a thread's current one) while over the total size."""
        open_names = {f.name for f in current.values()}
        total = sum(sizes.values())
        if total <= self.total_size:
            return
        for f in self.files():
            if total <= self.total_size:
                break
            if f.name in open_names:
                continue
            total -= sizes.pop(f.name, 0)
            for thread, fh in list(handles.items()):
                if fh.name == f.path:
                    handles.pop(thread).close()
            _remove(f.path)

    def rotate(self, count):
        """Delete the `count` oldest files (the admin API's forced rotation). Returns their names."""
        removed = []
        for f in self.files()[:max(0, int(count))]:
            _remove(f.path)
            removed.append(f.name)
        return removed

    def ensure_current(self, thread, now):
        """Return the current file of `thread`, creating an empty one if there is none."""
        cur = self.current(thread)
        if cur is not None:
            return cur.name
        os.makedirs(self.root, exist_ok=True)
        name = "log-%d-%d.pcap" % (int(now), thread)
        with open(os.path.join(self.root, name), "wb") as fh:
            fh.write(GLOBAL_HEADER)
        return name

    def total_bytes(self):
        return sum(os.path.getsize(f.path) for f in self.files())


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    _CACHE.pop(path, None)


# ---------------------------------------------------------------- reading and extraction

_CACHE = collections.OrderedDict()  # path -> (signature, data, index), least recently used first
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 1024
# A directory changed this recently may change again within its mtime's granularity: list it again.
RACY_SECONDS = 2.0


def frame_key(frame):
    """Normalized 5-tuple of an Ethernet frame: (proto, (ip, port), (ip, port)), endpoints sorted."""
    if len(frame) < 14:
        return None
    etype = int.from_bytes(frame[12:14], "big")
    off = 14
    if etype == 0x8100 and len(frame) >= 18:
        etype = int.from_bytes(frame[16:18], "big")
        off = 18
    if etype == 0x0800 and len(frame) >= off + 20:
        ihl = (frame[off] & 0x0F) * 4
        proto = frame[off + 9]
        src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
        l4 = off + ihl
    elif etype == 0x86DD and len(frame) >= off + 40:
        proto = frame[off + 6]
        src, dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
        l4 = off + 40
    else:
        return None
    sport = dport = 0
    if proto in PORT_PROTOS and len(frame) >= l4 + 4:
        sport, dport = struct.unpack_from("!HH", frame, l4)
    a, b = (bytes(src), sport), (bytes(dst), dport)
    return (proto,) + ((a, b) if a <= b else (b, a))


def frame_keys(frame):
    """Normalized 5-tuples of every IP layer of an Ethernet frame, outermost first (see tunnels.layer_keys)."""
    outer = frame_key(frame)
    if outer is not None and not tunnels.may_carry_a_tunnel(outer):
        return [outer]  # the common case, without dpkt
    return tunnels.layer_keys(frame)


def alert_key(alert):
    """Normalized 5-tuple of an alert document (same form as frame_key)."""
    return tunnels.eve_key(alert)


def tunnel_key(alert):
    """Normalized 5-tuple of the outer packet of a tunnelled alert (its `tunnel` object, depth > 0), or None."""
    tunnel = alert.get("tunnel")
    if not isinstance(tunnel, dict) or not tunnel.get("depth"):
        return None
    return tunnels.eve_key(tunnel)


def iter_records(data):
    """Yield (offset, length, ts_sec, ts_usec, frame) for each record of classic pcap bytes."""
    off = len(GLOBAL_HEADER)
    end = len(data)
    while off + RECORD.size <= end:
        sec, usec, incl, _orig = RECORD.unpack_from(data, off)
        if off + RECORD.size + incl > end:
            break
        yield off, RECORD.size + incl, sec, usec, data[off + RECORD.size:off + RECORD.size + incl]
        off += RECORD.size + incl


def read_pcap(data):
    """Parse classic pcap bytes: list of (ts_sec, ts_usec, frame). Checks the header."""
    if len(data) < len(GLOBAL_HEADER) or data[:4] != b"\xd4\xc3\xb2\xa1":
        raise ValueError("not a classic little-endian pcap")
    return [(sec, usec, frame) for _o, _l, sec, usec, frame in iter_records(data)]


def _indexed(path):
    """(data, {key: [(offset, length), ...]}) for a store file, cached by (mtime, size)."""
    st = os.stat(path)
    sig = (st.st_mtime_ns, st.st_size)
    with _CACHE_LOCK:
        entry = _CACHE.get(path)
        if entry is not None and entry[0] == sig:
            _CACHE.move_to_end(path)
            return entry[1], entry[2]
    with open(path, "rb") as fh:
        data = fh.read()
    index = {}
    for off, length, _sec, _usec, frame in iter_records(data):
        for key in dict.fromkeys(frame_keys(frame)):
            index.setdefault(key, []).append((off, length))
    with _CACHE_LOCK:
        _CACHE[path] = (sig, data, index)
        _CACHE.move_to_end(path)
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return data, index


class StoreIndex:
    """Which files of one store hold packets of which 5-tuple (every key of every IP layer, as `_indexed`)."""

    _indexes = {}
    _indexes_guard = threading.Lock()

    def __init__(self, root):
        self.root = root
        self.lock = threading.Lock()
        self.listed = None  # the directory's mtime when it was listed
        self.files = {}  # name -> (StoreFile, signature, keys)
        self.keys = {}  # key -> {name}
        self.newest = {}  # thread -> its newest file

    @classmethod
    def of(cls, root):
        with cls._indexes_guard:
            index = cls._indexes.get(root)
            if index is None:
                index = cls._indexes[root] = cls(root)
            return index

    def files_with(self, key, first):
        """The files of `first`'s capture thread, from `first` on, that hold packets of `key`, oldest first."""
        with self.lock:
            self._refresh()
            found = [self.files[name][0] for name in self.keys.get(key, ())]
        return sorted((f for f in found if f.thread == first.thread and f.sort_key >= first.sort_key),
                      key=lambda f: f.sort_key)

    def _refresh(self):
        try:
            mtime = os.stat(self.root).st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime != self.listed or time.time() - (mtime or 0) / 1e9 < RACY_SECONDS:
            present = {f.name: f for f in list_files(self.root)}
            for name in [name for name in self.files if name not in present]:
                self._forget(name)
            for name, store_file in present.items():
                entry = self.files.get(name)
                # A file may have grown since it was learned, then stopped being its thread's newest (a rotation).
                if entry is not None and _signature(store_file.path) != entry[1]:
                    self._forget(name)
                    entry = None
                if entry is None:
                    self._learn(store_file)
            self.listed = mtime
            self.newest = {}
            for store_file, _sig, _keys in self.files.values():
                held = self.newest.get(store_file.thread)
                if held is None or store_file.sort_key > held.sort_key:
                    self.newest[store_file.thread] = store_file
        for store_file in list(self.newest.values()):  # only a thread's newest file grows
            entry = self.files.get(store_file.name)
            if entry is not None and _signature(store_file.path) != entry[1]:
                self._forget(store_file.name)
                self._learn(store_file)

    def _learn(self, store_file):
        sig = _signature(store_file.path)
        try:
            _data, index = _indexed(store_file.path)
        except FileNotFoundError:
            return
        for key in index:
            self.keys.setdefault(key, set()).add(store_file.name)
        self.files[store_file.name] = (store_file, sig, tuple(index))

    def _forget(self, name):
        _store_file, _sig, keys = self.files.pop(name)
        for key in keys:
            names = self.keys.get(key)
            if names is not None:
                names.discard(name)
                if not names:
                    del self.keys[key]


def _signature(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


def extract_for_alert(root, alert):
    """The pcap bytes the probe's extractor produces for `alert` from the store at `root`.

    Raises NoCaptureFile when the alert has no capture_file, CaptureFileRotated when the file
    is gone. A header-only pcap (24 bytes) means no packet matched. A tunnelled alert's packets are
    those of its 5-tuple inside its tunnel's outer 5-tuple, as gophercap filters them (BPF on the
    `tunnel` addresses, then the inner 5-tuple).
    """
    capture_file = alert.get("capture_file")
    if not capture_file:
        raise NoCaptureFile("alert has no capture_file: conditional pcap was not active on probe %s when it fired" % alert.get("host", "?"))
    name = posixpath.basename(str(capture_file))
    path = os.path.join(root, name)
    if not os.path.exists(path):
        raise CaptureFileRotated("capture file %s no longer exists (rotated) on probe %s" % (capture_file, alert.get("host", "?")))
    key = alert_key(alert)
    outer_key = tunnel_key(alert)
    match = FILE_RE.match(name)
    if match:
        first = StoreFile(name, int(match.group(1)), int(match.group(2)), path)
        paths = [f.path for f in StoreIndex.of(root).files_with(key, first)]
    else:
        paths = [path]
    out = [GLOBAL_HEADER]
    for file_path in paths:
        try:
            data, index = _indexed(file_path)
        except FileNotFoundError:
            if file_path == path:
                raise CaptureFileRotated("capture file %s no longer exists (rotated)" % capture_file) from None
            continue
        outer = None if outer_key is None else set(index.get(outer_key, ()))
        for off, length in index.get(key, ()):
            if outer is None or (off, length) in outer:
                out.append(data[off:off + length])
    return b"".join(out)


# ---------------------------------------------------------------- synthetic big pcaps (stage_pcap)

SYNTH_FRAME = 1514  # Ethernet + IPv4 + TCP + 1460 bytes of payload
SYNTH_MIN_FRAME = 60
SYNTH_RECORD = RECORD.size + SYNTH_FRAME
SYNTH_MIN_RECORD = RECORD.size + SYNTH_MIN_FRAME
SYNTH_BLOCK_PACKETS = 685  # a block of about 1 MiB
SYNTH_TS = 1700000000
_SYNTH_MACS = bytes.fromhex("020000000002020000000001")
_SYNTH_IPS = bytes([10, 99, 0, 1, 10, 99, 0, 2])
_SYNTH_PORTS = struct.pack("!HH", 40000, 80)
_SYNTH_PAYLOAD = bytes(range(32, 127)) * 16
_SYNTH_BLOCK = []


def synthetic_frame(length, seq):
    """An Ethernet/IPv4/TCP frame (10.99.0.1:40000 -> 10.99.0.2:80, ACK+PSH) of `length` bytes, checksums set."""
    payload = _SYNTH_PAYLOAD[:length - 54]
    tcp = _SYNTH_PORTS + struct.pack("!IIBBHHH", seq & 0xFFFFFFFF, 1, 5 << 4, 0x18, 65535, 0, 0) + payload
    pseudo = _SYNTH_IPS + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", frames.checksum(pseudo + tcp)) + tcp[18:]
    ip_header = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(tcp), seq & 0xFFFF, 0x4000, 64, 6, 0) + _SYNTH_IPS
    ip_header = ip_header[:10] + struct.pack("!H", frames.checksum(ip_header)) + ip_header[12:]
    return _SYNTH_MACS + b"\x08\x00" + ip_header + tcp


def _synthetic_record(index, length):
    return RECORD.pack(SYNTH_TS + index // 1000, (index % 1000) * 1000, length, length) + synthetic_frame(length, 1 + index * 1460)


def _synthetic_block():
    if not _SYNTH_BLOCK:
        _SYNTH_BLOCK.append(b"".join(_synthetic_record(i, SYNTH_FRAME) for i in range(SYNTH_BLOCK_PACKETS)))
    return _SYNTH_BLOCK[0]


def synthetic_pcap_chunks(size):
    """Yield the chunks of a valid classic pcap of exactly `size` bytes (constant memory).

    The global header, then full-size packets (one pre-built block of about 1 MiB repeated); the
    last one or two records are shorter so that the size is exact. `size` is 24 (header only) or
    at least 100 (header + one minimal record).
    """
    size = int(size)
    if size != len(GLOBAL_HEADER) and size < len(GLOBAL_HEADER) + SYNTH_MIN_RECORD:
        raise ValueError("size must be %d (header only) or at least %d" % (len(GLOBAL_HEADER), len(GLOBAL_HEADER) + SYNTH_MIN_RECORD))
    yield GLOBAL_HEADER
    full, rest = divmod(size - len(GLOBAL_HEADER), SYNTH_RECORD)
    tail = []
    if 0 < rest < SYNTH_MIN_RECORD:
        full -= 1  # split the last full record and the rest into two valid records
        tail = [SYNTH_RECORD + rest - SYNTH_MIN_RECORD - RECORD.size, SYNTH_MIN_FRAME]
    elif rest:
        tail = [rest - RECORD.size]
    block = _synthetic_block()
    blocks, extra = divmod(full, SYNTH_BLOCK_PACKETS)
    for _i in range(blocks):
        yield block
    if extra:
        yield memoryview(block)[:extra * SYNTH_RECORD]
    for i, length in enumerate(tail):
        yield _synthetic_record(full + i, length)


def other_flow_pcap(packets=3):
    """A pcap of `packets` synthetic packets of a flow no alert has (10.99.0.1:40000 -> 10.99.0.2:80)."""
    return b"".join(synthetic_pcap_chunks(len(GLOBAL_HEADER) + packets * SYNTH_RECORD))


def write_big_shb_pcapng(path, shb_size, packets=3):
    """A little-endian pcapng whose Section Header Block is `shb_size` bytes (options: a hole of zeros, so the file is
    sparse), then an Interface Description Block (linktype 1) and `packets` Enhanced Packet Blocks of synthetic frames."""
    if shb_size < 28 or shb_size % 4:
        raise ValueError("shb_size must be a multiple of 4, at least 28")
    frame = synthetic_frame(SYNTH_MIN_FRAME, 1)
    idb = struct.pack("<IIHHI", 1, 20, LINKTYPE_ETHERNET, 0, SNAPLEN) + struct.pack("<I", 20)
    epb_len = 32 + len(frame) + (-len(frame) % 4)
    ticks = SYNTH_TS * 1000000
    epb = (struct.pack("<IIIIIII", 6, epb_len, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)) + frame
           + b"\0" * (-len(frame) % 4) + struct.pack("<I", epb_len))
    tmp = "%s.%d.%d.tmp" % (path, os.getpid(), threading.get_ident())
    try:
        with open(tmp, "wb") as fh:
            fh.write(struct.pack("<IIIHHq", 0x0A0D0D0A, shb_size, 0x1A2B3C4D, 1, 0, -1))
            fh.seek(shb_size - 28, 1)
            fh.write(struct.pack("<I", shb_size) + idb + epb * packets)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def write_synthetic_pcap(path, size):
    """Write synthetic_pcap_chunks(size) to `path` atomically (temporary file, then rename)."""
    tmp = "%s.%d.%d.tmp" % (path, os.getpid(), threading.get_ident())
    try:
        with open(tmp, "wb", buffering=0) as fh:
            for chunk in synthetic_pcap_chunks(size):
                fh.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
