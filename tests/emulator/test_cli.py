"""The CLI: seeding determinism, state file, restart on the same data dir, clean stop, performance."""

import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time

import pytest
import requests

from scs_emulator import pcapstore
from scs_emulator.testing import PACKAGE_PARENT, Emulator

NOW = 1777716000.0


def _fingerprint(emu):
    alerts = emu.alerts(from_date=0)
    stores = {}
    for probe in emu.state()["probes"]:
        root = pcapstore.store_dir(emu.data_dir, probe["name"])
        for f in pcapstore.list_files(root):
            with open(f.path, "rb") as fh:
                stores[f.name + "@" + probe["name"]] = hashlib.sha256(fh.read()).hexdigest()
    return [(a["_id"], a["flow_id"], a.get("capture_file")) for a in alerts], stores


def test_same_seed_same_data_and_different_seed_differs():
    args = ["--now", str(NOW)]
    with Emulator(tls=False, alerts=60, flows=30, extra_args=args) as one, Emulator(tls=False, alerts=60, flows=30, extra_args=args) as two:
        first, second = _fingerprint(one), _fingerprint(two)
        assert first == second
        assert first[1], "pcap stores were written"
        assert one.token != two.token
    with Emulator(tls=False, seed=2, alerts=60, flows=30, extra_args=args) as three:
        assert _fingerprint(three)[0] != first[0]


def test_state_file_and_stdout_lines(tmp_path):
    data_dir = str(tmp_path / "data")
    state_file = os.path.join(data_dir, "state.json")
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT)
    cmd = [sys.executable, "-m", "scs_emulator", "serve", "--tls", "--data-dir", data_dir, "--state-file", state_file,
           "--alerts", "10", "--flows", "5", "--token", "admintoken123", "--readonly-token", "analysttoken456"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True) as proc:
        try:
            lines = [proc.stdout.readline().strip() for _i in range(4)]
            values = dict(line.split("=", 1) for line in lines)
            assert list(values) == ["SCS_URL", "SCS_TOKEN", "SCS_READONLY_TOKEN", "SCS_CA_PATH"]
            assert values["SCS_URL"].startswith("https://127.0.0.1:")
            assert values["SCS_TOKEN"] == "admintoken123" and values["SCS_READONLY_TOKEN"] == "analysttoken456"
            assert values["SCS_CA_PATH"] == os.path.join(data_dir, "ca.pem")
            with open(state_file, encoding="utf-8") as fh:
                state = json.load(fh)
            assert state["SCS_URL"] == values["SCS_URL"] and state["pid"] == proc.pid and state["data_dir"] == data_dir
            resp = requests.get(values["SCS_URL"] + "/rest/", headers={"Authorization": "Token admintoken123"},
                                verify=values["SCS_CA_PATH"], timeout=10)
            assert resp.status_code == 200
        finally:
            proc.terminate()
            assert proc.wait(15) == 0


def test_restart_after_kill_keeps_state():
    with Emulator(tls=True, alerts=40, flows=20) as emu:
        token, port = emu.token, emu.port
        added = emu.add_alerts(probe="probe-01", count=2)
        assert emu.rest("PATCH", "/rest/appliances/probe/2/", json={"conditional_pcap": True}).status_code == 200
        emu.kill()
        emu.start()
        assert emu.token == token and emu.port == port
        assert emu.rest("GET", "/rest/rules/es/alerts_tail/", params={"page_size": 1}).json()["count"] == 42
        assert emu.alerts("_id:%s" % added[0]["_id"])
        probe = emu.rest("GET", "/rest/appliances/probe/2/").json()
        assert probe["conditional_pcap"] is True and probe["pending_changes"] is True


def test_startup_is_fast_and_filtering_scales():
    started = time.monotonic()
    with Emulator(tls=False, alerts=5000, flows=600, pcap="none") as emu:
        assert time.monotonic() - started < 15
        t0 = time.monotonic()
        for _i in range(10):
            resp = emu.rest("GET", "/rest/rules/es/alerts_tail/", params={"qfilter": "alert.severity:1 AND NOT host:probe-02"})
            assert resp.status_code == 200
        assert (time.monotonic() - t0) / 10 < 0.25
        assert resp.json()["count"] > 0


def test_cert_modes_share_the_ca(tmp_path):
    emu = Emulator(tls=True, alerts=10, flows=5, data_dir=str(tmp_path / "data"), cert_mode="expired")
    try:
        emu.start()
        with open(emu.ca_path, "rb") as fh:
            ca_pem = fh.read()
        with pytest.raises(requests.exceptions.SSLError, match="expired"):
            requests.get(emu.url + "/rest/", verify=emu.ca_path, timeout=10)
        assert emu.state()["alerts"] == 10  # the admin helpers do not verify in these modes
        assert emu.state_info["cert_mode"] == "expired"
        emu.stop()
        emu.cert_mode = "wrong-host"
        emu.start()
        with pytest.raises(requests.exceptions.SSLError, match="IP address mismatch"):
            requests.get(emu.url + "/rest/", verify=emu.ca_path, timeout=10)
        with pytest.raises(requests.exceptions.SSLError, match="Hostname mismatch"):
            requests.get("https://localhost:%d/rest/" % emu.port, verify=emu.ca_path, timeout=10)
        # signed by the CA of ca.pem: only the name is wrong
        ctx = ssl.create_default_context(cafile=emu.ca_path)
        ctx.check_hostname = False
        with socket.create_connection(("127.0.0.1", emu.port), timeout=10) as raw, ctx.wrap_socket(raw) as conn:
            assert conn.getpeercert()["subjectAltName"] == (("DNS", "wrong-host.example"),)
        with open(emu.ca_path, "rb") as fh:
            assert fh.read() == ca_pem
        assert os.path.exists(os.path.join(emu.data_dir, "server-expired.pem"))
    finally:
        emu.cleanup()


def test_cert_mode_needs_tls():
    proc = subprocess.run([sys.executable, "-m", "scs_emulator", "serve", "--cert-mode", "expired"], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=PACKAGE_PARENT), timeout=30, check=False)
    assert proc.returncode == 2 and "needs --tls" in proc.stderr
