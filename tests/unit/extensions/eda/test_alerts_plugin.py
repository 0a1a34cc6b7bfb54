"""The event source plugin as ansible-rulebook runs it: loaded by path, ``main(queue, args)`` on a real ScsClient
over a fake HTTP transport."""

import asyncio
import json
import logging
import os
import runpy
import shutil
import subprocess
import sys
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from ansible_collections.stamus.scs.plugins.module_utils._alert_source import SOURCE_OPTIONS, source_settings
from collection_path import collections_dir  # tests/collection_path.py
from ansible_collections.stamus.scs.plugins.module_utils._module_base import connection_argument_spec
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsAuthenticationError, ScsConfigError

TOKEN = "tok-eda-plugin-9d3c51aa"
ALERTS = "/rest/rules/es/alerts_tail/"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
COLLECTIONS = collections_dir()
PLUGIN = os.path.join("extensions", "eda", "plugins", "event_source", "alerts.py")
INSTALLED = os.path.join(COLLECTIONS, "ansible_collections", "stamus", "scs", PLUGIN)


def load_plugin():
    return runpy.run_path(INSTALLED)


class FakeQueue:
    def __init__(self):
        self.events = []

    async def put(self, event):
        self.events.append(event)


def alerts_tail(docs):
    """A handler serving ``docs`` (a list the test may extend) like alerts_tail, one page."""
    def handler(_request):
        body = {"count": len(docs), "next": None, "previous": None, "results": list(docs)}
        return 200, json.dumps(body).encode(), {"Content-Type": "application/json"}
    return handler


def run_until(args, queue, done, timeout=10):
    """Run the plugin's main until ``done()`` or the timeout; return main's exception, if it ended with one."""
    main = load_plugin()["main"]

    async def scenario():
        task = asyncio.create_task(main(queue, args))
        for _tick in range(int(timeout / 0.01)):
            if task.done() or done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            return task.exception()
        task.cancel()
        return None

    return asyncio.run(scenario())


@pytest.fixture(autouse=True)
def no_scs_environment(monkeypatch):
    for name in ("SCS_URL", "SCS_TOKEN", "SCS_CA_PATH", "SCS_VALIDATE_CERTS"):
        monkeypatch.delenv(name, raising=False)


def doc(number):
    return {"_id": "id%d" % number, "@timestamp": "2026-05-02T10:00:%02d.000Z" % number, "alert": {"severity": 1}}


def test_loaded_by_path_from_an_installed_collection_with_nothing_on_sys_path():
    code = "import runpy, sys; m = runpy.run_path(sys.argv[1]); print(m['_COLLECTIONS_DIR']); print(m['main'].__name__)"
    proc = subprocess.run([sys.executable, "-I", "-c", code, INSTALLED], capture_output=True, text=True, check=False,
                          cwd="/", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [COLLECTIONS, "main"]


def test_loaded_outside_a_collection_tree_says_how_to_install(tmp_path):
    shutil.copy(os.path.join(REPO, PLUGIN), tmp_path / "alerts.py")
    code = "import runpy, sys; runpy.run_path(sys.argv[1])"
    proc = subprocess.run([sys.executable, "-I", "-c", code, str(tmp_path / "alerts.py")], capture_output=True,
                          text=True, check=False, cwd="/", timeout=60)
    assert proc.returncode == 1
    assert "stamus.scs.alerts cannot import the stamus.scs collection" in proc.stderr
    assert "ansible-galaxy collection install" in proc.stderr


def test_main_queues_each_alert_once_however_many_polls(fake_server, monkeypatch):
    docs = [doc(1), doc(2)]
    fake_server.add("GET", ALERTS, handler=alerts_tail(docs))
    monkeypatch.setenv("SCS_URL", "https://scs.example.net")
    monkeypatch.setenv("SCS_TOKEN", TOKEN)
    queue = FakeQueue()

    def later():
        if len(fake_server.calls) == 3:
            docs.append(doc(3))
        return len(fake_server.calls) >= 8

    assert run_until({"since": "3650d", "interval": 0.01}, queue, later) is None
    assert [event["stamus_alert"]["_id"] for event in queue.events] == ["id1", "id2", "id3"]
    assert all(call.headers["Authorization"] == "Token " + TOKEN for call in fake_server.calls)
    assert "ordering=%40timestamp" in fake_server.calls[0].url


def test_main_fails_at_start_on_a_refused_token_without_showing_it(fake_server, caplog):
    fake_server.add("GET", ALERTS, status=403, json={"detail": "Invalid token."})
    with caplog.at_level(logging.DEBUG):
        error = run_until({"scs_url": "https://scs.example.net", "scs_token": TOKEN}, FakeQueue(), lambda: False)
    assert isinstance(error, ScsAuthenticationError) and "check scs_token (or SCS_TOKEN)" in str(error)
    assert TOKEN not in str(error) and TOKEN not in caplog.text


def test_main_waits_out_a_failing_scs_and_then_emits(fake_server, caplog):
    fake_server.add("GET", ALERTS, status=503, body=b"<html>down " + TOKEN.encode() + b"</html>", times=3)
    fake_server.add("GET", ALERTS, handler=alerts_tail([doc(1)]))
    queue = FakeQueue()
    args = {"scs_url": "https://scs.example.net", "scs_token": TOKEN, "retries": 0, "interval": 0.01, "since": "3650d",
            "max_backoff": 0.05}
    with caplog.at_level(logging.DEBUG):
        assert run_until(args, queue, lambda: queue.events) is None
    assert [event["stamus_alert"]["_id"] for event in queue.events] == ["id1"]
    failures = [record.getMessage() for record in caplog.records if "Polling SCS failed" in record.getMessage()]
    assert len(failures) == 3 and "next in 0.01s" in failures[0] and "next in 0.04s" in failures[2]
    assert "HTTP 503" in failures[0] and TOKEN not in caplog.text


def test_documentation_matches_the_options_the_code_accepts():
    plugin = load_plugin()
    options = yaml.safe_load(plugin["DOCUMENTATION"])["options"]
    spec = dict(connection_argument_spec(), **SOURCE_OPTIONS)
    assert set(options) == set(spec)
    for name, option in spec.items():
        for key in ("default", "type", "elements", "choices"):
            assert options[name].get(key) == option.get(key), (name, key)
        assert options[name].get("required", False) is option.get("required", False), name
    examples = yaml.safe_load(plugin["EXAMPLES"])
    env = {"SCS_URL": "https://scs.example.net", "SCS_TOKEN": TOKEN}
    for rulebook in examples:
        for source in rulebook["sources"]:
            args = source["stamus.scs.alerts"]
            if "state_file" in args:
                args = dict(args, state_file=None)  # its directory need not exist here
            assert source_settings(args, env)["scs_url"] == "https://scs.example.net"


def test_main_asks_for_the_event_kinds_and_emits_only_the_probes_exact_alerts(fake_server, caplog):
    """event_kinds become the alert/stamus/discovery flags; with probes, the keyword suffix is read once from SCS and an
    alert of another probe that SCS still returns (probe-01-dmz for probe-01) is not emitted, with a warning."""
    docs = [dict(doc(1), host="probe-01", event_type="stamus", stamus={"threat_name": "x"}, flow_id=1),
            dict(doc(2), host="probe-01-dmz", event_type="stamus", flow_id=2),
            dict(doc(3), host="probe-01", discovery={"key": "hostname"}, flow_id=3)]
    fake_server.add("GET", "/rest/rules/system_settings/", json={"es_keyword": "raw"})
    fake_server.add("GET", ALERTS, handler=alerts_tail(docs))
    queue = FakeQueue()
    args = {"scs_url": "https://scs.example.net", "scs_token": TOKEN, "since": "3650d", "interval": 0.01,
            "event_kinds": "doc,sightings", "probes": ["probe-01"]}
    with caplog.at_level(logging.INFO):
        assert run_until(args, queue, lambda: len(fake_server.calls) >= 4) is None
    assert [event["stamus_alert"]["_id"] for event in queue.events] == ["id1", "id3"]
    assert [event["stamus_ref"] for event in queue.events] == [
        {"alert_id": "id1", "probe": "probe-01", "flow_id": 1}, {"alert_id": "id3", "probe": "probe-01", "flow_id": 3}]
    paths = [urlparse(call.url).path for call in fake_server.calls]
    assert paths[0] == "/rest/rules/system_settings/" and paths.count("/rest/rules/system_settings/") == 1
    query = parse_qs(urlparse(fake_server.calls[1].url).query)
    assert query["qfilter"] == ['host.raw:"probe-01"']
    assert (query["alert"], query["stamus"], query["discovery"]) == (["false"], ["true"], ["true"])
    assert int(query["to_date"][0]) > int(query["from_date"][0])
    dropped = [record.getMessage() for record in caplog.records if "other probes" in record.getMessage()]
    assert len(dropped) == 1 and "1 alert(s) of other probes than 'probe-01' ('probe-01-dmz')" in dropped[0]
    assert "for events (doc, sightings) of the probes 'probe-01'" in caplog.text


def test_main_refuses_unknown_event_kinds_at_start(fake_server):
    error = run_until({"scs_url": "https://scs.example.net", "scs_token": TOKEN, "event_kinds": "alerts,DoC"},
                      FakeQueue(), lambda: False)
    assert isinstance(error, ScsConfigError) and "value of event_kinds must be one or more of: alerts, doc, sightings. Got no match for: DoC." in str(error)
    assert fake_server.calls == []
