"""Start and drive an SCS emulator from tests.

    with Emulator(tls=True) as emu:
        requests.get(emu.url + "/rest/", headers={"Authorization": "Token " + emu.token}, verify=emu.ca_path)
        emu.inject_fault(path="alerts_tail", kind="status", status=503, count=1)

The emulator runs as a subprocess (`python -m scs_emulator serve`); its output goes to
<data_dir>/emulator.log.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings

import requests
import urllib3

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class EmulatorError(RuntimeError):
    pass


class Emulator:  # pylint: disable=too-many-instance-attributes,too-many-public-methods
    def __init__(self, tls=True, seed=1, probes=3, templates=2, alerts=250, flows=120, pcap="mixed", data_dir=None,
                 token=None, legacy=False, extra_args=(), readonly_token=None, startup_timeout=30, cert_mode="valid"):
        self.tls = tls
        self.cert_mode = cert_mode
        self.legacy = legacy
        self.options = {"seed": seed, "probes": probes, "templates": templates, "alerts": alerts, "flows": flows, "pcap": pcap}
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self._own_dir = data_dir is None
        self.data_dir = os.path.abspath(data_dir or tempfile.mkdtemp(prefix="scs-emu-test-"))
        self.token = token
        self.readonly_token = readonly_token
        self.url = None
        self.ca_path = None
        self.port = 0
        self.pid = None
        self.proc = None
        self.state_info = None
        self._log = None
        self._session = requests.Session()

    # ------------------------------------------------------------------ lifecycle

    @property
    def state_file(self):
        return os.path.join(self.data_dir, "emulator-state.json")

    def command(self):
        cmd = [sys.executable, "-m", "scs_emulator", "serve", "--data-dir", self.data_dir, "--port", str(self.port),
               "--state-file", self.state_file]
        for key, value in self.options.items():
            cmd += ["--" + key, str(value)]
        if self.tls:
            cmd.append("--tls")
            if self.cert_mode != "valid":
                cmd += ["--cert-mode", self.cert_mode]
        if self.legacy:
            cmd.append("--legacy")
        if self.token:
            cmd += ["--token", self.token]
        if self.readonly_token:
            cmd += ["--readonly-token", self.readonly_token]
        return cmd + self.extra_args

    def start(self):
        """Start (or restart on the same data dir and, if possible, the same port)."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        os.makedirs(self.data_dir, exist_ok=True)
        if os.path.exists(self.state_file):
            os.unlink(self.state_file)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([PACKAGE_PARENT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        env.pop("DJANGO_SETTINGS_MODULE", None)
        self._log = open(os.path.join(self.data_dir, "emulator.log"), "ab")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=env)  # pylint: disable=consider-using-with
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.state_file):
                with open(self.state_file, encoding="utf-8") as fh:
                    info = json.load(fh)
                self._apply_state(info)
                return self
            if self.proc.poll() is not None:
                if self.port:
                    # the old port could not be bound again: take any free one
                    self.port = 0
                    return self.start()
                raise EmulatorError("emulator exited with %s; see %s" % (self.proc.returncode, self._log_path()))
            time.sleep(0.03)
        self.kill()
        raise EmulatorError("emulator not ready after %ss; see %s" % (self.startup_timeout, self._log_path()))

    def _log_path(self):
        return os.path.join(self.data_dir, "emulator.log")

    def _apply_state(self, info):
        self.state_info = info
        self.url = info["SCS_URL"]
        self.token = info["SCS_TOKEN"]
        self.readonly_token = info["SCS_READONLY_TOKEN"]
        self.ca_path = info["SCS_CA_PATH"] or None
        self.port = info["port"]
        self.pid = info["pid"]

    def stop(self, timeout=10):
        """SIGTERM and wait (graceful stop)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def kill(self):
        """SIGKILL the emulator (arbiter and worker): a crash, the data dir stays as it was."""
        if self.proc is not None and self.proc.poll() is None:
            worker = (self.state_info or {}).get("worker_pid")
            self.proc.kill()
            self.proc.wait(10)
            if worker:
                try:
                    os.kill(worker, signal.SIGKILL)
                except OSError:
                    pass
        self._close_log()

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self):
        self._session.close()
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # ------------------------------------------------------------------ helpers

    @property
    def verify(self):
        return self.ca_path if self.ca_path else True

    def env(self):
        return {"SCS_URL": self.url, "SCS_TOKEN": self.token, "SCS_CA_PATH": self.ca_path or ""}

    def headers(self, token=None):
        return {"Authorization": "Token %s" % (token or self.token)}

    def rest(self, method, path, token=None, **kwargs):
        """Call the SCS API as a client would (path relative to the base URL, e.g. '/rest/')."""
        kwargs.setdefault("verify", self.verify)
        kwargs.setdefault("timeout", 30)
        headers = dict(self.headers(token), **kwargs.pop("headers", {}))
        return self._session.request(method, self.url + path, headers=headers, **kwargs)

    def admin(self, method, path, **kwargs):
        """Call the admin API. With a bad certificate on purpose (cert_mode), it is not verified."""
        kwargs.setdefault("verify", self.verify if self.cert_mode == "valid" else False)
        kwargs.setdefault("timeout", 30)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            resp = requests.request(method, self.url + "/_emulator/" + path.lstrip("/"), **kwargs)
        if resp.status_code >= 400:
            raise EmulatorError("admin %s %s -> %s %s" % (method, path, resp.status_code, resp.text[:500]))
        return resp

    def inject_fault(self, **fault):
        return self.admin("POST", "faults/", json=fault).json()

    def clear_faults(self):
        self.admin("DELETE", "faults/")

    def reset_faults(self):
        """No injected fault, and the filestore serves its files intact again."""
        self.clear_faults()
        self.configure(filestore_corrupt=False)

    def faults(self):
        return self.admin("GET", "faults/").json()["faults"]

    def requests(self):
        return self.admin("GET", "requests/").json()["requests"]

    def clear_requests(self):
        self.admin("DELETE", "requests/")

    def add_alerts(self, probe="probe-01", count=1, kind="normal", fields=None, **kw):
        """New alerts now; ``fields`` (a dict) is deep-merged into each: new keys, nested values, overrides."""
        body = dict(kw, probe=probe, count=count, kind=kind)
        if fields is not None:
            body["fields"] = fields
        return self.admin("POST", "alerts/", json=body).json()["alerts"]

    def stored_http_alert(self, probe="probe-01"):
        """A new alert on an HTTP flow whose body the filestore keeps: ``(alert, the flow's events, its fileinfo)``."""
        for _attempt in range(20):
            for alert in self.add_alerts(probe=probe, count=5):
                if alert["app_proto"] != "http":
                    continue
                events = self.rest("GET", "/rest/rules/es/events_from_flow_id/",
                                   params={"qfilter": "flow_id:%d" % alert["flow_id"]}).json()
                info = events["Fileinfo"][0]["fileinfo"]
                if info["stored"]:
                    return alert, events, info
        raise AssertionError("no stored HTTP body generated")

    def rename_probe(self, probe, name):
        """Rename a probe (any text); its pcap store and alerts keep the old name."""
        return self.admin("POST", "rename_probe/", json={"probe": probe, "name": name}).json()

    def rotate(self, probe, files=1):
        return self.admin("POST", "rotate/", json={"probe": probe, "files": files}).json()

    def probe_fault(self, probe, status="failed", message="", count=1):
        return self.admin("POST", "probe_faults/", json={"probe": probe, "status": status, "message": message, "count": count}).json()

    def revoke_task(self, pk=None):
        """Revoke task ``pk`` (the latest without it); EmulatorError (409) when it cannot be revoked any more."""
        return self.admin("POST", "revoke_task/", json={"task": pk} if pk is not None else {}).json()

    def clear_probe_faults(self):
        self.admin("DELETE", "probe_faults/")

    def expected_pcap(self, alert_id):
        return self.admin("GET", "expected_pcap/%s/" % alert_id).content

    def state(self):
        return self.admin("GET", "state/").json()

    def stage_pcap(self, filename, size, probe=None, shb_size=None):
        """Put a valid pcap of exactly `size` bytes on SCS as if `filename` had been extracted and retrieved (with
        `shb_size`: a pcapng whose Section Header Block has that size instead)."""
        body = {"filename": filename, "size": int(size)}
        if shb_size is not None:
            body["shb_size"] = int(shb_size)
        if probe:
            body["probe"] = probe
        return self.admin("POST", "stage_pcap/", json=body, timeout=max(30, int(size) // 20000000)).json()

    def configure(self, **values):
        return self.admin("POST", "config/", json=values).json()

    def alerts(self, qfilter=None, token=None, **params):
        """All matching alert docs (follows pagination), through the real REST API."""
        params = dict(params, page_size=params.get("page_size", 1000))
        if qfilter:
            params["qfilter"] = qfilter
        out = []
        page = 1
        while True:
            resp = self.rest("GET", "/rest/rules/es/alerts_tail/", token=token, params=dict(params, page=page))
            resp.raise_for_status()
            body = resp.json()
            out.extend(body["results"])
            if not body["next"]:
                return out
            page += 1
