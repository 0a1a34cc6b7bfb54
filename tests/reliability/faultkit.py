"""Helpers of the fault-injection part of the reliability suite (test_faults.py, test_disruptions.py).

- playbooks: write a play of tasks (every task ``ignore_errors``, every registered result saved), run it with a real
  ``ansible-playbook`` (blocking or as a ``Popen``), and cut its output per task;
- fault injection from inside a play: a ``debug`` task whose ``pipe`` lookup runs ``faultkit_inject.py`` (no module
  round trip, so a scenario costs one module run), which also marks where each scenario starts in the request log;
- safety checks: evidence directories (no temporary file, no pcap without a manifest, no manifest whose sha256 does
  not match), token leaks, tracebacks;
- a listener on 127.0.0.2 that records whatever reaches it (a followed redirect would).
"""

import contextlib
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from runner import BIN, TOKEN_MARKER, Emulator, ansible_env  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

INJECTOR = os.path.join(HERE, "faultkit_inject.py")
NO_ROTATION = ("--pcap-total-size", "100000000")
TRACEBACK = "Traceback (most recent call last)"
UPLOAD_PATH = "/rest/rules/filestore_pcap/upload/"
STEP_PATHS = {"extract": "/rest/rules/filestore_pcap/%s/extract_pcap/", "retrieve": "/rest/rules/filestore_pcap/%s/retrieve/",
              "download": "/rest/rules/filestore_pcap/%s/download/"}


# ---------------------------------------------------------------------------------------------- playbooks

class Playbook:
    """One ansible-playbook run of ``tasks`` (started at once); ``wait()`` returns self with rc, stdout, stderr, results."""

    def __init__(self, workdir, env, tasks, verbosity=3, check=False, play_extra=None):
        os.makedirs(str(workdir), exist_ok=True)
        self.workdir = str(workdir)
        self.result_file = os.path.join(self.workdir, "results.json")
        registered = [task["register"] for task in tasks if "register" in task]
        play = {"name": "reliability", "hosts": "localhost", "connection": "local", "gather_facts": False,
                "tasks": [dict(task, ignore_errors=True) for task in tasks] + [{
                    "name": "Save results",
                    "check_mode": False,
                    "ansible.builtin.copy": {
                        "dest": self.result_file, "mode": "0600",
                        "content": "{{ {%s} | to_json }}" % ", ".join(
                            "'%s': %s | default(None)" % (name, name) for name in registered),
                    },
                }]}
        play.update(play_extra or {})
        playbook = os.path.join(self.workdir, "playbook.yml")
        with open(playbook, "w", encoding="utf-8") as handle:
            handle.write(yaml.safe_dump([play], sort_keys=False))
        command = [os.path.join(BIN, "ansible-playbook"), playbook]
        if check:
            command.append("--check")
        if verbosity:
            command.append("-" + "v" * verbosity)
        self._out = open(os.path.join(self.workdir, "stdout.txt"), "w", encoding="utf-8")  # pylint: disable=consider-using-with
        self._err = open(os.path.join(self.workdir, "stderr.txt"), "w", encoding="utf-8")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(command, env=ansible_env(env), stdout=self._out, stderr=self._err,  # pylint: disable=consider-using-with
                                     cwd=self.workdir, text=True)
        self.rc = None
        self.stdout = self.stderr = ""
        self.results = None

    def poll(self):
        return self.proc.poll()

    def wait(self, timeout=600):
        try:
            self.rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._out.close()
            self._err.close()
        with open(os.path.join(self.workdir, "stdout.txt"), encoding="utf-8") as handle:
            self.stdout = handle.read()
        with open(os.path.join(self.workdir, "stderr.txt"), encoding="utf-8") as handle:
            self.stderr = handle.read()
        if os.path.exists(self.result_file):
            with open(self.result_file, encoding="utf-8") as handle:
                self.results = json.load(handle)
        return self

    def __getitem__(self, name):
        return self.results[name]

    def task_output(self, name):
        """The part of stdout printed for the task called ``name``."""
        marker = "TASK [%s]" % name
        start = self.stdout.find(marker)
        if start < 0:
            return ""
        ends = [pos for pos in (self.stdout.find("\nTASK [", start + 1), self.stdout.find("\nPLAY RECAP", start + 1)) if pos >= 0]
        return self.stdout[start:min(ends) if ends else len(self.stdout)]


def run_playbook(workdir, env, tasks, **kwargs):
    return Playbook(workdir, env, tasks, **kwargs).wait()


def inject_task(specfile, key):
    """A task that clears the emulator's faults, marks the request log and injects the faults of scenario ``key``."""
    command = "%s %s %s %s" % (sys.executable, INJECTOR, specfile, key)
    return {"name": "Inject %s" % key, "ansible.builtin.debug": {"msg": "{{ lookup('ansible.builtin.pipe', %r) }}" % command}}


def write_specs(path, emulator, faults_by_key):
    """The file faultkit_inject.py reads: the admin URL, its CA and the faults of each scenario key."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"url": emulator.url, "ca": emulator.ca_path, "marks": path + ".marks", "faults": faults_by_key}, handle)
    return path


def read_marks(specfile):
    """[(key, time it started)] in the order the scenarios ran."""
    marks = []
    if os.path.exists(specfile + ".marks"):
        with open(specfile + ".marks", encoding="utf-8") as handle:
            for line in handle:
                mark = json.loads(line)
                marks.append((mark["key"], mark["at"]))
    return marks


def split_log(entries, marks):
    """Request log entries per scenario key by arrival time (a slow request is logged when it ends, so not by id)."""
    out = {}
    for index, (key, start) in enumerate(marks):
        until = marks[index + 1][1] if index + 1 < len(marks) else float("inf")
        out[key] = sorted((entry for entry in entries if start <= entry["time"] < until), key=lambda entry: entry["time"])
    return out


# ---------------------------------------------------------------------------------------------- SCS calls from Python

def upload(emulator, alert):
    resp = emulator.rest("POST", UPLOAD_PATH, params={"host": alert["host"]},
                         files={"file": ("%s.json" % alert["_id"], json.dumps(alert), "application/json")})
    assert resp.status_code == 200 and resp.json()["upload"] == "done", resp.text
    return resp.json()["filename"]


def stage_steps(emulator, alert, upto):
    """Run the pcap steps before ``upto`` ('extract', 'retrieve' or 'download') for ``alert`` from Python."""
    filename = upload(emulator, alert)
    if upto in ("retrieve", "download"):
        resp = emulator.rest("POST", STEP_PATHS["extract"] % filename, params={"host": alert["host"]})
        assert resp.status_code == 200 and resp.json()["extraction"] == "done", resp.text
    if upto == "download":
        resp = emulator.rest("GET", STEP_PATHS["retrieve"] % filename, params={"host": alert["host"]})
        assert resp.status_code == 200 and resp.json()["retrieve"] == "done", resp.text
    return filename


def lone_alerts(emulator):
    """Alerts with a capture file that are alone on their flow (one alert, one pcap), oldest first."""
    alerts = emulator.alerts()
    per_flow = {}
    for alert in alerts:
        per_flow.setdefault((alert["host"], alert["flow_id"]), []).append(alert)
    lone = [group[0] for group in per_flow.values() if len(group) == 1 and group[0].get("capture_file")]
    return sorted(lone, key=lambda alert: alert["_id"])


# ---------------------------------------------------------------------------------------------- safety checks

def files_under(root):
    return sorted(os.path.relpath(os.path.join(path, name), root)
                  for path, _dirs, names in os.walk(str(root)) for name in names)


def sha256_of(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def evidence_problems(root, manifests=True):
    """What is wrong in an evidence directory: temporary or hidden files, pcaps without a manifest (when
    ``manifests``), manifests without their pcap or whose sha256 does not match, anything else."""
    problems = []
    root = str(root)
    if not os.path.isdir(root):
        return problems
    names = files_under(root)
    for name in names:
        base = os.path.basename(name)
        path = os.path.join(root, name)
        if base.startswith(".") or base.endswith((".part", ".tmp")) or "~" in base:
            problems.append("temporary file %s" % name)
        elif base.endswith(".pcap"):
            manifest = path[:-len(".pcap")] + ".json"
            if manifests and not os.path.exists(manifest):
                problems.append("pcap without manifest %s" % name)
        elif base.endswith(".events.json") or os.path.dirname(name).endswith(".files"):
            problems += _artifact_problems(root, name)
        elif base.endswith(".json") and manifests:
            pcap = path[:-len(".json")] + ".pcap"
            try:
                with open(path, encoding="utf-8") as handle:
                    recorded = json.load(handle)["pcap"]["sha256"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                problems.append("unreadable manifest %s (%s)" % (name, exc))
                continue
            if not os.path.exists(pcap):
                problems.append("manifest without pcap %s" % name)
            elif sha256_of(pcap) != recorded:
                problems.append("sha256 mismatch %s" % name)
        else:
            problems.append("unexpected file %s" % name)
    return problems


def _artifact_problems(root, name):
    """What is wrong with a flow's events file or extracted file: it must be listed, with its sha256, by the manifest
    beside it (``<flow_id>.json``)."""
    flow = name[:-len(".events.json")] if name.endswith(".events.json") else os.path.dirname(name)[:-len(".files")]
    try:
        with open(os.path.join(root, flow + ".json"), encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        return ["artifact without manifest %s" % name]
    members = [manifest.get("flow_events")] + list(manifest.get("files") or [])
    listed = {os.path.join(os.path.dirname(flow), member["file"]): member.get("sha256")
              for member in members if isinstance(member, dict) and member.get("file")}
    if name not in listed:
        return ["artifact not in its manifest %s" % name]
    if sha256_of(os.path.join(root, name)) != listed[name]:
        return ["sha256 mismatch %s" % name]
    return []


def leaks(*texts, roots=()):
    """Where the token marker shows up: in the given texts or in any file under ``roots``."""
    found = ["text #%d" % index for index, text in enumerate(texts) if TOKEN_MARKER in (text if isinstance(text, str) else json.dumps(text))]
    for root in roots:
        for name in files_under(root):
            with open(os.path.join(str(root), name), "rb") as handle:
                if TOKEN_MARKER.encode() in handle.read():
                    found.append(os.path.join(str(root), name))
    return found


def crash_signs(*texts):
    """Signs of a crash instead of a clear error."""
    signs = []
    for text in texts:
        text = text if isinstance(text, str) else json.dumps(text)
        for sign in (TRACEBACK, "MODULE FAILURE", "module_stderr", "Unexpected Exception"):
            if sign in text and sign not in signs:
                signs.append(sign)
    return signs


def excerpt(message, pattern=None, width=170):
    """A short part of ``message`` around what ``pattern`` matched (or its start)."""
    message = " ".join(str(message or "").split())
    start = 0
    if pattern:
        match = re.search(pattern, message, re.IGNORECASE)
        if match:
            start = max(0, match.start() - width // 3)
    text = message[start:start + width]
    return ("..." if start else "") + text + ("..." if start + width < len(message) else "")


# ---------------------------------------------------------------------------------------------- TCP servers

class _AcceptLoop:
    """A listening socket served on its own thread until close(); each connection goes to ``_handle(conn, peer)``.
    Subclasses set their own attributes before calling this __init__: the thread starts at once."""

    def __init__(self, host, port, backlog):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                continue
            self._handle(conn, peer)

    def _handle(self, conn, peer):
        raise NotImplementedError

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DropProxy(_AcceptLoop):
    """A TCP front of the emulator that drops its first ``drops`` connections during the TLS handshake (it reads the
    ClientHello, then closes), as an overloaded balancer or a restarting server does; later ones are forwarded."""

    def __init__(self, target_port, drops, host="127.0.0.1"):
        self.target = (host, target_port)
        self.drops = drops
        self.dropped = 0
        self.forwarded = 0
        super().__init__(host, 0, 32)

    def _handle(self, conn, peer):
        if self.drops < 0 or self.dropped < self.drops:
            self.dropped += 1
            conn.settimeout(2)
            try:
                conn.recv(65536)
            except OSError:
                pass
            conn.close()
            return
        self.forwarded += 1
        threading.Thread(target=self._forward, args=(conn,), daemon=True).start()

    def _forward(self, conn):
        try:
            upstream = socket.create_connection(self.target, timeout=30)
        except OSError:
            conn.close()
            return

        def pipe(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for end in (src, dst):
                    try:
                        end.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pipe, args=(upstream, conn), daemon=True)
        back.start()
        pipe(conn, upstream)
        back.join(30)
        conn.close()
        upstream.close()


# ---------------------------------------------------------------------------------------------- 127.0.0.2

class Listener(_AcceptLoop):
    """Accepts connections on 127.0.0.2:port and keeps what they send (a followed redirect would land here)."""

    def __init__(self, port, host="127.0.0.2"):
        self.received = []
        super().__init__(host, port, 16)

    def _handle(self, conn, peer):
        conn.settimeout(1)
        data = b""
        try:
            while len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        finally:
            conn.close()
        self.received.append((peer, data))


@contextlib.contextmanager
def tiny_disk(path, size="1m"):
    """A tmpfs of ``size`` mounted at ``path`` for the test (skipped where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip("cannot mount a tmpfs at %s: %s" % (path, (proc.stderr or proc.stdout).strip()))
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
