"""1. Download of one big pcap: curl (the physical limit), curl then fsync (the module's durability), a raw Python
receive loop (what Python can receive, nothing written), the collection's pcap_download module run as its own process
(streamed, verified, hashed, fsynced), and the vendor script's download method (no streaming, 1 KiB chunks, a print
each). Every download gets its own freshly staged file (a download is one-shot); the methods take turns (curl, module,
curl, module...) so that the machine's noise hits them alike, and the median run of each is reported."""

import os
import shutil
import subprocess
import sys
import tempfile

from common import COLLECTIONS, GIB, MIB, Emulator, Meter, log, median, read_peak_rss, run_module_direct, script_with_peak_rss

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = GIB
REPEATS = 5
TINY = 24  # a header-only pcap: the module's fixed cost and its memory floor


class Downloader:
    def __init__(self, emu, workdir):
        self.emu, self.workdir, self.count = emu, workdir, 0

    def stage(self):
        self.count += 1
        name = "benchPcap%03d" % self.count
        self.emu.stage_pcap(name, self.size)
        os.sync()  # the staged file's dirty pages are not written back during the measured download
        return name

    def url(self, name):
        return "%s/rest/rules/filestore_pcap/%s/download/" % (self.emu.url, name)

    def finish(self, path, meter, rss=None):
        size = os.path.getsize(path)
        os.unlink(path)
        if size != self.size:
            raise RuntimeError("downloaded %d bytes, expected %d" % (size, self.size))
        return {"seconds": meter.seconds, "mbps": self.size / MIB / meter.seconds, "client_cpu": meter.client_cpu,
                "server_cpu": meter.server_cpu, "server_share": meter.server_cpu / meter.seconds, "rss": rss}

    def curl(self, durable=False):
        name, path = self.stage(), os.path.join(self.workdir, "curl.pcap")
        command = ["curl", "-s", "-o", path, "-H", "Authorization: Token %s" % self.emu.token, self.url(name)]
        if self.emu.ca_path:
            command[2:2] = ["--cacert", self.emu.ca_path]
        with Meter(self.emu) as meter:
            subprocess.run(command, check=True, timeout=600)
            if durable:
                subprocess.run(["sync", path], check=True, timeout=600)  # coreutils: fsync of that file
        return self.finish(path, meter)

    def curl_sync(self):
        return self.curl(durable=True)

    def raw(self):
        name = self.stage()
        with Meter(self.emu) as meter:
            proc = subprocess.run([sys.executable, "-c", RAW_RECEIVE, self.url(name), self.emu.token, self.emu.ca_path or ""],
                                  check=True, timeout=600, capture_output=True, text=True)
        received = int(proc.stdout)
        if received != self.size:
            raise RuntimeError("the raw receive loop got %d bytes, expected %d" % (received, self.size))
        return {"seconds": meter.seconds, "mbps": self.size / MIB / meter.seconds, "client_cpu": meter.client_cpu,
                "server_cpu": meter.server_cpu, "server_share": meter.server_cpu / meter.seconds, "rss": None}

    def module(self):
        name = self.stage()
        args = {"scs_url": self.emu.url, "scs_token": self.emu.token, "filename": name, "dest": self.workdir}
        if self.emu.ca_path:
            args["ca_path"] = self.emu.ca_path
        result, rss, meter = run_module_direct("pcap_download", args, self.workdir, meter_emu=self.emu)
        if not result.get("sha256") or result.get("size") != self.size:
            raise RuntimeError("pcap_download returned %r" % {k: result.get(k) for k in ("size", "sha256")})
        return self.finish(result["path"], meter, rss)

    def vendor(self):
        name, path = self.stage(), os.path.join(self.workdir, "vendor.pcap")
        env = dict(os.environ, VENDOR_CA_BUNDLE=self.emu.ca_path or "", VENDOR_TMP=self.workdir)
        hwm_file = os.path.join(self.workdir, "vendor-hwm.txt")
        command = script_with_peak_rss(hwm_file, [os.path.join(HERE, "vendor_script.py"), "--download", self.emu.url,
                                                  self.emu.token, name, path])
        with Meter(self.emu) as meter:
            subprocess.run(command, check=True, timeout=900, env=env, stdout=subprocess.DEVNULL)
        return self.finish(path, meter, read_peak_rss(hwm_file))

    def measure(self, methods, size, repeats):
        """Each method ``repeats`` times, the methods taking turns (noise hits them alike); the median run of each."""
        self.size = size  # pylint: disable=attribute-defined-outside-init
        runs = {method: [] for method in methods}
        for _round in range(repeats):
            for method in methods:
                runs[method].append(getattr(self, method)())
        out = {}
        for method, done in runs.items():
            mid = sorted(done, key=lambda run: run["seconds"])[len(done) // 2]
            log("download %s %d MiB: %s" % (method, size // MIB, ", ".join("%.2f s" % run["seconds"] for run in done)))
            out[method] = dict(mid, runs=[run["seconds"] for run in done], repeats=repeats,
                               rss=median([run["rss"] for run in done]) if done[0]["rss"] is not None else None)
        return out


# A raw Python receive loop: the GET sent by hand on a socket (TLS from the ssl module), the body received with
# recv_into into one 1 MiB buffer and dropped. What Python itself can receive at, with no HTTP library, nothing written.
RAW_RECEIVE = """
import socket, ssl, sys
from urllib.parse import urlsplit
url, token, ca = sys.argv[1:4]
parts = urlsplit(url)
sock = socket.create_connection((parts.hostname, parts.port))
if parts.scheme == "https":
    sock = ssl.create_default_context(cafile=ca or None).wrap_socket(sock, server_hostname=parts.hostname)
sock.sendall(("GET %s HTTP/1.1\\r\\nHost: %s\\r\\nAuthorization: Token %s\\r\\nAccept-Encoding: identity\\r\\n"
              "Connection: close\\r\\n\\r\\n" % (parts.path, parts.netloc, token)).encode())
view = memoryview(bytearray(1 << 20))
head = b""
while b"\\r\\n\\r\\n" not in head:
    size = sock.recv_into(view)
    if not size:
        sys.exit("the connection closed before the headers ended")
    head += view[:size]
head, body = head.split(b"\\r\\n\\r\\n", 1)
if not head.startswith(b"HTTP/1.1 200"):
    sys.exit(head.decode("latin-1"))
received = len(body)
while True:
    size = sock.recv_into(view)
    if not size:
        break
    received += size
print(received)
"""

RECEIVE_ONLY = """
import sys, requests
with requests.get(sys.argv[1], headers={"Authorization": "Token " + sys.argv[2]}, stream=True, timeout=120) as response:
    response.raise_for_status()
    for chunk in response.iter_content(chunk_size=1 << 20):
        pass
"""


def breakdown(dl):
    """What the module does besides receiving, each timed alone on a fresh 1 GiB pcap (HTTP)."""
    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.stamus.scs.plugins.module_utils._files import sha256_file  # pylint: disable=import-outside-toplevel
    from ansible_collections.stamus.scs.plugins.module_utils._pcap_verify import summarize_pcap  # pylint: disable=import-outside-toplevel
    dl.size = SIZE
    out = {}
    with Meter() as meter:
        subprocess.run([sys.executable, "-c", RECEIVE_ONLY, dl.url(dl.stage()), dl.emu.token], check=True, timeout=600)
    out["receive"] = meter.seconds
    path = os.path.join(dl.workdir, "curl.pcap")
    subprocess.run(["curl", "-s", "-o", path, "-H", "Authorization: Token %s" % dl.emu.token, dl.url(dl.stage())],
                   check=True, timeout=600)
    for key, step in (("fsync", lambda: os.fsync(handle.fileno())), ("sha256", lambda: sha256_file(path)),
                      ("verify", lambda: summarize_pcap(path, None))):
        with open(path, "rb+") as handle, Meter() as meter:
            step()
        out[key] = meter.seconds
    os.unlink(path)
    log("download breakdown: %s" % ", ".join("%s %.2f s" % item for item in out.items()))
    return out


def measure(tls, repeats=REPEATS):
    workdir = tempfile.mkdtemp(prefix="scs-bench-dl-")
    try:
        with Emulator(tls=tls, seed=3, probes=1, templates=1, alerts=2, flows=1, pcap="all") as emu:
            dl = Downloader(emu, workdir)
            load = [os.getloadavg()[0]]
            out = dl.measure(("curl", "module", "curl_sync", "raw"), SIZE, repeats)
            load.append(os.getloadavg()[0])
            out.update(dl.measure(("vendor",), SIZE, 1))  # 3 times slower and holds the whole file: once
            out["module_100m"] = dl.measure(("module",), 100 * MIB, 3)["module"]
            out["module_tiny"] = dl.measure(("module",), TINY, 3)["module"]
            if not tls:
                out["breakdown"] = breakdown(dl)
            out["load"] = load  # 1-minute load average before and after the alternating 1 GiB runs
            return out
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run():
    return {"http": measure(tls=False), "https": measure(tls=True)}
