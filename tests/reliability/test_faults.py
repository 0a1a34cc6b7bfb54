"""Faults on every SCS API step, injected into the emulator while real ansible-playbook runs use the collection.

Each scenario is one fault on one step, seen through one module: alerts_tail (alert_info), upload, extract_pcap,
retrieve and download (alert_pcap, and the matching step module), the probe list, a probe PATCH, update_push_all and
the apply task (conditional_pcap, apply_changes), and TLS (unknown CA, expired and wrong-host certificates).

For speed the scenarios run in four plays at once, each against its own emulator:

- "chain" and "steps": faults on the per-alert paths (.../<alert _id>/extract_pcap/, retrieve/, download/) are all
  injected before the play; alert_pcap takes one alert per scenario in one task (fail_on=none, a worker per alert),
  the step modules one task per scenario (the steps before the faulted one are done from Python);
- "query" and "fleet": faults on shared paths (alerts_tail, upload, the probe list, PATCH, update_push_all, the task)
  are injected by a debug task's pipe lookup right before the scenario's task, which also marks the request log;
- "tls": three emulators (valid certificate but no CA given, expired, wrong host), and a fourth behind TCP fronts that
  drop the first (or every) connection in the TLS handshake (faultkit.DropProxy).

Every scenario must either survive (the task succeeded, retrying a GET or re-running the chain where that is safe) or
fail with a message that names the cause, without a traceback; no temporary or partial file may be left, and the
token marker may appear nowhere (output, results, evidence, and nothing may reach 127.0.0.2 after a redirect).
"""

import collections
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultkit as fk  # noqa: E402  pylint: disable=wrong-import-position
from faultkit import NO_ROTATION, TOKEN_MARKER, Emulator  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.integration

TIMEOUT = 2      # the modules' timeout option in every scenario
SLOW = 3         # seconds the "slower than timeout" fault waits before answering
RETRIES = 3      # the client's default

# ------------------------------------------------------------------------------------------------ the scenarios

FAULTS = {
    "503 x1": {"kind": "status", "status": 503, "count": 1},
    "503 x2": {"kind": "status", "status": 503, "count": 2},
    "503 forever": {"kind": "status", "status": 503, "count": -1},
    "429 Retry-After 1": {"kind": "status", "status": 429, "retry_after": 1, "count": 1},
    "slower than timeout": {"kind": "delay", "delay": SLOW, "count": 1},
    "reset before headers": {"kind": "reset", "count": 1},
    "HTML 500 page": {"kind": "html500", "count": -1},
    "invalid JSON on 200": {"kind": "invalid_json", "count": -1},
    "redirect to another host": {"kind": "redirect", "count": -1},
    "200 without done marker": {"kind": "no_done", "count": -1},
    "truncated body": {"kind": "truncate", "count": 1},
    "reset mid-body": {"kind": "reset_mid_body", "count": 1},
}
GENERIC = ("503 x1", "503 x2", "503 forever", "429 Retry-After 1", "slower than timeout", "reset before headers",
           "HTML 500 page", "invalid JSON on 200", "redirect to another host")

# step: (HTTP method, path regex for shared paths or None for per-alert paths, extra faults, [(module, where)], group)
STEPS = {
    "alerts_tail": ("GET", r"/rest/rules/es/alerts_tail/$", ("truncated body",),
                    [("alert_info", "alerts_tail (alert_info)")]),
    "upload": ("POST", r"/rest/rules/filestore_pcap/upload/$", ("200 without done marker",),
               [("alert_pcap", "upload (alert_pcap)"), ("pcap_upload", "upload (pcap_upload)")]),
    "extract": ("POST", None, ("200 without done marker",),
                [("alert_pcap", "extract_pcap (alert_pcap)"), ("pcap_extract", "extract_pcap (pcap_extract)")]),
    "retrieve": ("GET", None, ("200 without done marker", "truncated body"),
                 [("alert_pcap", "retrieve (alert_pcap)"), ("pcap_retrieve", "retrieve (pcap_retrieve)")]),
    "download": ("GET", None, ("truncated body", "reset mid-body"),
                 [("alert_pcap", "download (alert_pcap)"), ("pcap_download", "download (pcap_download)")]),
    "list": ("GET", r"/rest/appliances/probe/$", ("truncated body",),
             [("conditional_pcap", "appliances list (conditional_pcap)")]),
    "patch": ("PATCH", r"/rest/appliances/probe/[^/]+/$", (), [("conditional_pcap", "PATCH probe (conditional_pcap)")]),
    "push": ("POST", r"/update_push_all/$", ("200 without done marker",), [("apply_changes", "update_push_all (apply_changes)")]),
    "task": ("GET", r"/rest/appliances/task/", ("truncated body",), [("apply_changes", "task (apply_changes)")]),
}
DONE_CAUSE = {"upload": r"upload=done", "extract": r"extraction=done", "retrieve": r"retrieve=done", "push": r"task_pk"}
CAUSES = {
    "503 x1": r"HTTP 503", "503 x2": r"HTTP 503", "503 forever": r"HTTP 503", "429 Retry-After 1": r"HTTP 429",
    "slower than timeout": r"no answer within %d seconds" % TIMEOUT, "reset before headers": r"reset",
    "HTML 500 page": r"HTTP 500 \(Server Error \(500\)", "invalid JSON on 200": r"not JSON",
    "redirect to another host": r"redirect", "truncated body": r"broke off|received \d+ of \d+ bytes",
    "reset mid-body": r"broke off|reset", "TLS": r"TLS verification failed",
}
HANDSHAKE = {"connection dropped in TLS handshake x1": 1, "connection dropped in TLS handshake forever": -1}
HANDSHAKE_WHERES = [("alert_info", "TLS handshake (alert_info)"), ("alert_pcap", "TLS handshake (alert_pcap)"),
                    ("pcap_upload", "TLS handshake (pcap_upload)")]
# A dropped or reset connection is not a certificate problem: the message must not send the user after ca_path.
NOT_TLS = r"TLS verification failed|ca_path"
TLS_CASES = {"TLS unknown CA": "valid", "TLS expired certificate": "expired", "TLS wrong-host certificate": "wrong-host"}
TLS_WHERES = [("alert_info", "TLS handshake (alert_info)"), ("alert_pcap", "TLS handshake (alert_pcap)"),
              ("apply_changes", "TLS handshake (apply_changes)")]
GROUP_OF_STEP = {"alerts_tail": "query", "upload": "query", "extract": "pcap", "retrieve": "pcap", "download": "pcap",
                 "list": "fleet", "patch": "fleet", "push": "fleet", "task": "fleet"}

# Known misbehaviours of the collection: scenario key -> what is wrong (xfail until plugins/ is fixed).
KNOWN = {}


class Scenario:  # pylint: disable=too-many-instance-attributes
    def __init__(self, step, module, where, name, fault=None):
        self.step, self.module, self.where, self.name = step, module, where, name
        self.key = re.sub(r"[^0-9a-z]+", "-", ("%s %s %s" % (step, module, name)).lower()).strip("-")
        self.group = "tls" if step in ("tls", "handshake") else GROUP_OF_STEP[step]
        self.method = STEPS[step][0] if step in STEPS else None
        self.fault = dict(fault if fault is not None else FAULTS.get(name, {}))
        self.chain = module == "alert_pcap"
        self.expect = self._expected()
        self.cause = self._cause()
        self.not_cause = NOT_TLS if step == "handshake" or "reset" in name else None

    def task(self, module_args, **extra):
        """The scenario's task: ``stamus.scs.<module>`` with ``module_args``, registered under the scenario's key."""
        return dict({"name": self.key, "register": self.key.replace("-", "_"),
                     "stamus.scs.%s" % self.module: module_args}, **extra)

    def _expected(self):
        """What the client policy promises: GETs retried, POSTs never, alert_pcap re-runs the chain once."""
        if self.step == "handshake":  # nothing was sent: a GET (alert_pcap starts with one) is retried
            return "survived" if self.name.endswith("x1") and self.module != "pcap_upload" else "clear error"
        if self.step == "tls" or self.name in ("503 forever", "HTML 500 page", "invalid JSON on 200", "200 without done marker") \
                or self.name.startswith("redirect"):
            return "clear error"
        get = self.method == "GET"
        if self.name in ("503 x1", "429 Retry-After 1", "slower than timeout", "reset before headers"):
            return "survived" if get or self.chain else "clear error"
        if self.name == "503 x2":
            return "survived" if get else "clear error"
        if self.name == "truncated body":
            return "survived" if self.step != "download" or self.chain else "clear error"
        if self.name == "reset mid-body":
            return "survived" if self.chain else "clear error"
        raise AssertionError(self.name)

    def _cause(self):
        if self.step == "tls":
            return CAUSES["TLS"]
        if self.step == "handshake":
            return r"reset|closed|connection"
        if self.name == "200 without done marker":
            return DONE_CAUSE[self.step]
        if self.name == "invalid JSON on 200" and self.step == "download":
            return r"not a valid pcap"
        if self.name.startswith("redirect"):
            return CAUSES["redirect to another host"]
        return CAUSES[self.name]


def build_scenarios():
    scenarios = []
    for step, (_method, _path, extras, wheres) in STEPS.items():
        for module, where in wheres:
            for name in GENERIC + extras:
                scenarios.append(Scenario(step, module, where, name))
    # a redirect to the same server under another name: a followed redirect would show in its request log
    scenarios.append(Scenario("alerts_tail", "alert_info", "alerts_tail (alert_info)", "redirect to localhost (same server)",
                              fault={"kind": "redirect", "count": 1}))
    for name in TLS_CASES:
        for module, where in TLS_WHERES:
            scenarios.append(Scenario("tls", module, where, name))
    for name in HANDSHAKE:
        for module, where in HANDSHAKE_WHERES:
            scenarios.append(Scenario("handshake", module, where, name))
    return {scenario.key: scenario for scenario in scenarios}


SCENARIOS = build_scenarios()


# ------------------------------------------------------------------------------------------------ observations

class Observation:  # pylint: disable=too-many-instance-attributes
    """What one scenario did."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.result = None      # the registered task result
        self.failed = None      # the scenario failed (task failed, or the alert's outcome is failed)
        self.msg = ""
        self.output = ""        # the task's part of stdout
        self.stderr = ""
        self.requests = []      # the request log entries of the scenario
        self.evidence = None    # directory the scenario may have written
        self.manifests = True   # whether pcaps there need a manifest (alert_pcap) or not (pcap_download)
        self.problems = []      # evidence problems
        self.leaks = []
        self.crash = []
        self.survived_ok = None  # the success is real (right bytes, done markers, ...)
        self.survived_note = ""
        self.redirect_reached = []

    def take(self, run):
        """The scenario's registered task result, whether the task failed, and its message."""
        self.result = run.results.get(self.scenario.key.replace("-", "_")) or {}
        self.failed = bool(self.result.get("failed"))
        self.msg = self.result.get("msg") or ""

    def faulted(self):
        """Requests on the faulted path (and method) of this scenario."""
        regex = re.compile(self.scenario.fault["path"]) if self.scenario.fault.get("path") else None
        return [entry for entry in self.requests
                if (regex is None or regex.search(entry["path"])) and entry["method"] == self.scenario.method]


def finish(obs, run, name, roots=()):
    obs.output = run.task_output(name)
    obs.stderr = run.stderr
    obs.crash = fk.crash_signs(obs.output, obs.result or {}) + (
        [fk.TRACEBACK + " (stderr)"] if fk.TRACEBACK in run.stderr else [])
    obs.leaks = fk.leaks(obs.output, run.stderr, obs.result or {}, roots=roots)
    if obs.evidence:
        obs.problems = fk.evidence_problems(obs.evidence, manifests=obs.manifests)


def listen(emulator):
    try:
        return fk.Listener(emulator.port)
    except OSError as exc:  # pragma: no cover - loopback aliases are standard on Linux
        pytest.skip("cannot listen on 127.0.0.2:%d: %s" % (emulator.port, exc))
        return None


def run_faulted_tasks(tmp, emu, scenarios, module_args):
    """Each scenario's task (``module_args(scenario)`` -> ``(args, task extras)``) right after a task that arms its
    fault, all in one playbook; return the run and each scenario's Observation with its requests and result."""
    specs, tasks = {}, []
    for scenario in scenarios:
        method, path = STEPS[scenario.step][:2]
        scenario.fault.update(method=method, path=path)
        specs[scenario.key] = [scenario.fault]
        tasks.append(fk.inject_task(str(tmp / "faults.json"), scenario.key))
        args, extra = module_args(scenario)
        tasks.append(scenario.task(args, **extra))
    specfile = fk.write_specs(str(tmp / "faults.json"), emu, specs)
    with listen(emu) as listener:
        run = fk.run_playbook(tmp / "play", emu.env(), tasks)
    per_key = fk.split_log(emu.requests(), fk.read_marks(specfile))
    observations = []
    for scenario in scenarios:
        obs = Observation(scenario)
        obs.requests = per_key.get(scenario.key, [])
        obs.redirect_reached = listener.received
        obs.take(run)
        observations.append(obs)
    return run, observations


def run_pcap_group(tmp, scenarios):
    """Per-alert faults on extract_pcap / retrieve / download: alert_pcap batches and the step modules."""
    out = {}
    with Emulator(tls=True, seed=61, probes=3, templates=1, alerts=320, flows=260, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emu:
        alerts = fk.lone_alerts(emu)
        assert len(alerts) >= len(scenarios), "not enough single-alert flows"
        pool = iter(alerts)
        tasks, batches = [], collections.defaultdict(list)
        for scenario in scenarios:
            alert = next(pool)
            scenario.alert = alert
            scenario.fault.update(method=scenario.method, path=re.escape(fk.STEP_PATHS[scenario.step] % alert["_id"]) + "$")
            if scenario.chain:
                batches[scenario.step].append(scenario)
            else:
                fk.stage_steps(emu, alert, scenario.step)
            emu.inject_fault(**scenario.fault)
        for step, members in batches.items():
            tasks.append({"name": "alert_pcap %s batch" % step, "register": "chain_%s" % step, "stamus.scs.alert_pcap": {
                "alerts": [scenario.alert for scenario in members], "dest": str(tmp / ("chain-" + step)),
                "workers": len(members), "fail_on": "none", "timeout": TIMEOUT}})
        for scenario in scenarios:
            if scenario.chain:
                continue
            alert = scenario.alert
            args = {"filename": alert["_id"], "timeout": TIMEOUT}
            if scenario.step == "download":
                scenario.dest = tmp / "steps" / scenario.key
                scenario.dest.mkdir(parents=True)
                args.update(dest=str(scenario.dest), alert=alert)
            else:
                args["probe"] = alert["host"]
            tasks.append(scenario.task(args))
        with listen(emu) as listener:
            run = fk.run_playbook(tmp / "play", emu.env(), tasks)
        log = emu.requests()
        for scenario in scenarios:
            obs = Observation(scenario)
            alert = scenario.alert
            obs.requests = [entry for entry in log if "/%s/" % alert["_id"] in entry["path"]]
            obs.redirect_reached = listener.received
            if scenario.chain:
                task = run.results.get("chain_%s" % scenario.step) or {}
                entries = [entry for entry in task.get("results", []) if entry.get("alert_id") == alert["_id"]]
                entry = entries[0] if entries else {}
                obs.result = entry
                obs.failed = entry.get("outcome") != "fetched"
                obs.msg = entry.get("message") or task.get("msg") or ""
                obs.evidence = tmp / ("chain-" + scenario.step)
                pcap = obs.evidence / alert["host"] / ("%d.pcap" % alert["flow_id"])
                if entry.get("outcome") == "fetched":
                    obs.survived_ok = pcap.exists() and pcap.read_bytes() == emu.expected_pcap(alert["_id"]) \
                        and entry.get("sha256") == fk.sha256_of(pcap)
                elif pcap.exists():
                    obs.problems.append("a failed alert left %s" % pcap)
                batch_output = run.task_output("alert_pcap %s batch" % scenario.step)
                obs.stderr = run.stderr
                obs.crash = fk.crash_signs(batch_output, entry, task.get("msg") or "") + (
                    [fk.TRACEBACK + " (stderr)"] if fk.TRACEBACK in run.stderr else [])
                obs.leaks = fk.leaks(batch_output, run.stderr, task, roots=[obs.evidence])
                obs.problems += fk.evidence_problems(obs.evidence)
                obs.survived_note = "fetched; %d %s calls" % (len(obs.faulted()), scenario.step)
            else:
                obs.take(run)
                if scenario.step == "download":
                    obs.evidence, obs.manifests = scenario.dest, False
                    pcap = scenario.dest / ("%s.pcap" % alert["_id"])
                    obs.survived_ok = not obs.failed and pcap.exists() and \
                        pcap.read_bytes() == emu.expected_pcap(alert["_id"]) and obs.result.get("sha256") == fk.sha256_of(pcap)
                    if obs.failed and pcap.exists():
                        obs.problems.append("a failed download left %s" % pcap)
                else:
                    marker = {"extract": "extraction", "retrieve": "retrieve"}[scenario.step]
                    obs.survived_ok = not obs.failed and (obs.result.get("response") or {}).get(marker) == "done"
                obs.survived_note = "done; %d %s calls" % (len(obs.faulted()), scenario.step)
                finish(obs, run, scenario.key, roots=[obs.evidence] if obs.evidence else ())
            out[scenario.key] = obs
    return out


def run_query_group(tmp, scenarios):
    """Shared-path faults on alerts_tail and upload, injected by the play right before each scenario."""
    out = {}
    with Emulator(tls=True, seed=62, probes=3, templates=1, alerts=120, flows=100, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emu:
        alerts = iter(fk.lone_alerts(emu))

        def module_args(scenario):
            if scenario.name == "redirect to localhost (same server)":
                scenario.fault["location"] = "https://localhost:%d/rest/moved/alerts_tail/" % emu.port
            if scenario.module == "alert_info":
                return {"since": "30d", "limit": 5, "timeout": TIMEOUT}, {}
            scenario.alert = next(alerts)
            if scenario.module == "pcap_upload":
                return {"alert": scenario.alert, "timeout": TIMEOUT}, {}
            return {"alerts": [scenario.alert], "dest": str(tmp / "evidence" / scenario.key), "timeout": TIMEOUT}, {}

        run, observations = run_faulted_tasks(tmp, emu, scenarios, module_args)
        for obs in observations:
            scenario = obs.scenario
            calls = len(obs.faulted())
            if scenario.module == "alert_info":
                obs.survived_ok = not obs.failed and len(obs.result.get("alerts") or []) == 5
                obs.survived_note = "found the alerts; %d alerts_tail calls" % calls
            elif scenario.module == "pcap_upload":
                obs.survived_ok = not obs.failed and obs.result.get("filename") == scenario.alert["_id"]
                obs.survived_note = "uploaded; %d upload calls" % calls
            else:
                alert = scenario.alert
                obs.evidence = tmp / "evidence" / scenario.key
                entry = (obs.result.get("results") or [{}])[0]
                pcap = obs.evidence / alert["host"] / ("%d.pcap" % alert["flow_id"])
                obs.failed = obs.failed or entry.get("outcome") != "fetched"
                obs.msg = entry.get("message") or obs.msg
                if not obs.failed:
                    obs.survived_ok = pcap.exists() and pcap.read_bytes() == emu.expected_pcap(alert["_id"])
                elif pcap.exists():
                    obs.problems.append("a failed alert left %s" % pcap)
                obs.survived_note = "fetched; %d upload calls" % calls
            finish(obs, run, scenario.key, roots=[obs.evidence] if obs.evidence else ())
            out[scenario.key] = obs
    return out


def run_fleet_group(tmp, scenarios):
    """Shared-path faults on the probe list, a probe PATCH, update_push_all and the apply task."""
    out = {}
    with Emulator(tls=True, seed=63, probes=12, templates=3, alerts=10, flows=5, pcap="none", token=TOKEN_MARKER) as emu:
        emu.configure(task_delay=0.2)
        probes = iter(sorted(probe["name"] for probe in emu.state()["probes"]))

        def module_args(scenario):
            if scenario.step == "list":
                return {"probes": ["probe-01"], "state": "enabled", "timeout": TIMEOUT}, {"check_mode": True}
            if scenario.step == "patch":
                scenario.probe = next(probes)  # a probe of its own: a slow PATCH still lands after the timeout
                return {"probes": [scenario.probe], "state": "enabled", "timeout": TIMEOUT}, {}
            return {"force": True, "timeout": TIMEOUT, "wait_timeout": 60}, {}

        run, observations = run_faulted_tasks(tmp, emu, scenarios, module_args)
        for obs in observations:
            scenario = obs.scenario
            calls = len(obs.faulted())
            if scenario.module == "conditional_pcap":
                obs.survived_ok = not obs.failed and bool(obs.result.get("targets"))
                obs.survived_note = "listed the probes; %d list calls" % calls
            else:
                apply = obs.result.get("apply") or {}
                obs.survived_ok = not obs.failed and (apply.get("task") or {}).get("success") is True
                obs.survived_note = "applied; %d %s calls" % (calls, "task" if scenario.step == "task" else "push")
            finish(obs, run, scenario.key)
            out[scenario.key] = obs
    return out


def run_tls_group(tmp, scenarios):
    """Each module against a certificate it must refuse: a CA it was not given, an expired and a wrong-host one."""
    out = {}
    emulators, proxies = {}, []
    try:
        for mode in list(TLS_CASES.values()) + ["proxied"]:  # "proxied": behind the DropProxy of the handshake cases
            emulators[mode] = Emulator(tls=True, seed=64, probes=2, templates=1, alerts=40, flows=40, pcap="all",
                                       token=TOKEN_MARKER, cert_mode="valid" if mode == "proxied" else mode)
        with ThreadPoolExecutor(len(emulators)) as pool:
            list(pool.map(lambda emu: emu.start(), emulators.values()))
        proxied = emulators["proxied"]
        alerts = iter(fk.lone_alerts(proxied))
        tasks = []
        for scenario in scenarios:
            if scenario.step == "handshake":
                scenario.proxy = fk.DropProxy(proxied.port, HANDSHAKE[scenario.name])
                proxies.append(scenario.proxy)
                conn = {"scs_url": "https://127.0.0.1:%d" % scenario.proxy.port, "ca_path": proxied.ca_path, "timeout": TIMEOUT}
            else:
                emu = emulators[TLS_CASES[scenario.name]]
                conn = {"scs_url": emu.url, "timeout": TIMEOUT}
                if scenario.name != "TLS unknown CA":
                    conn["ca_path"] = emu.ca_path  # the right CA, a bad certificate
            if scenario.module in ("alert_pcap", "pcap_upload"):
                scenario.alert = next(alerts)
            args = {"alert_info": {"limit": 1}, "apply_changes": {},
                    "pcap_upload": {"alert": getattr(scenario, "alert", None)},
                    "alert_pcap": {"alerts": [getattr(scenario, "alert", None)], "dest": str(tmp / "evidence" / scenario.key)},
                    }[scenario.module]
            tasks.append(scenario.task(dict(args, **conn)))
        for emu in emulators.values():
            emu.clear_requests()
        # no SCS_CA_PATH: the machine's own bundle (REQUESTS_CA_BUNDLE) does not know the emulator's CA
        run = fk.run_playbook(tmp / "play", {"SCS_TOKEN": TOKEN_MARKER}, tasks)
        logs = {mode: emu.requests() for mode, emu in emulators.items()}
        for scenario in scenarios:
            obs = Observation(scenario)
            obs.requests = [] if scenario.step == "handshake" else logs[TLS_CASES[scenario.name]]
            obs.take(run)
            if scenario.module == "alert_pcap":
                obs.evidence = tmp / "evidence" / scenario.key
                entry = (obs.result.get("results") or [{}])[0]
                obs.failed = obs.failed or entry.get("outcome") != "fetched"
                obs.survived_ok = not obs.failed and fk.evidence_problems(obs.evidence) == [] and \
                    len([name for name in fk.files_under(obs.evidence) if name.endswith(".pcap")]) == 1
                obs.survived_note = "fetched after a new connection"
            elif scenario.module == "alert_info":
                obs.survived_ok = not obs.failed and len(obs.result.get("alerts") or []) == 1
                obs.survived_note = "found the alerts after a new connection"
            if scenario.step == "handshake":
                obs.survived_note += " (%d connection(s) dropped)" % scenario.proxy.dropped
            finish(obs, run, scenario.key, roots=[obs.evidence] if obs.evidence else ())
            out[scenario.key] = obs
    finally:
        for proxy in proxies:
            proxy.close()
        for emu in emulators.values():
            emu.cleanup()
    return out


RUNNERS = {"pcap": run_pcap_group, "query": run_query_group, "fleet": run_fleet_group, "tls": run_tls_group}


@pytest.fixture(scope="module")
def observed(request, tmp_path_factory):
    """Run the plays of the selected scenarios' groups at once (each against its own emulator); {key: Observation}."""
    selected = {item.callspec.params["key"] for item in request.session.items
                if getattr(item, "callspec", None) and item.callspec.params.get("key") in SCENARIOS}
    groups = collections.defaultdict(list)
    for scenario in SCENARIOS.values():
        if any(SCENARIOS[key].group == scenario.group for key in selected):
            groups[scenario.group].append(scenario)
    results = {}
    with ThreadPoolExecutor(len(groups)) as pool:
        futures = {name: pool.submit(RUNNERS[name], tmp_path_factory.mktemp("faults-" + name), members)
                   for name, members in groups.items()}
        for name, future in futures.items():
            results.update(future.result())
    return results


# ------------------------------------------------------------------------------------------------ the test

def params():
    out = []
    for key in SCENARIOS:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN[key])] if key in KNOWN else []
        out.append(pytest.param(key, id=key, marks=marks))
    return out


@pytest.mark.parametrize("key", params())
def test_fault(key, observed, ledger):  # pylint: disable=redefined-outer-name,too-many-branches,too-many-statements
    scenario = SCENARIOS[key]
    obs = observed[key]
    detail = "%s / %s: msg=%r result=%s" % (scenario.where, scenario.name, obs.msg, str(obs.result)[:1500])

    # safety checks, whatever the outcome
    assert not obs.crash, "crash signs %s: %s" % (obs.crash, detail)
    assert TOKEN_MARKER not in obs.msg and not obs.leaks, "token leaked in %s: %s" % (obs.leaks, detail)
    assert not obs.problems, "evidence problems %s: %s" % (obs.problems, detail)
    if scenario.name.startswith("redirect"):
        assert not obs.redirect_reached, "something reached 127.0.0.2: %r" % obs.redirect_reached

    if scenario.expect == "survived":
        assert not obs.failed and obs.survived_ok, "expected to survive: " + detail
        outcome, seen = "survived", obs.survived_note
    else:
        assert obs.failed, "expected a clear error: " + detail
        assert re.search(scenario.cause, obs.msg, re.IGNORECASE), "message does not name the cause (%s): %s" % (scenario.cause, detail)
        assert not re.search(r"<(!doctype|html|body|h1)\b", obs.msg, re.IGNORECASE), "raw HTML in the message: " + detail
        assert not (scenario.not_cause and re.search(scenario.not_cause, obs.msg)), \
            "a connection failure is reported as a certificate problem: " + detail
        outcome, seen = "clear error", fk.excerpt(obs.msg, scenario.cause)

    # the client policy, read from the emulator's request log
    faulted = obs.faulted()
    if scenario.step == "handshake":
        dropped = scenario.proxy.dropped
        assert dropped >= 1, "the proxy dropped nothing"
    elif scenario.step == "tls":
        assert not obs.requests, "a request went over a connection that failed verification: %s" % obs.requests
    elif scenario.method != "GET":
        limit = 2 if scenario.chain else 1  # a POST is never repeated; alert_pcap re-runs the chain once
        assert 1 <= len(faulted) <= limit, "%d %s calls: %s" % (len(faulted), scenario.method, faulted)
    elif scenario.name == "503 forever":
        attempts = (1 + RETRIES) * (2 if scenario.chain else 1)
        assert len(faulted) == attempts, "%d GETs, expected %d: %s" % (len(faulted), attempts, faulted)
    elif scenario.name in ("503 x1", "503 x2") and not scenario.chain:
        assert len(faulted) == scenario.fault["count"] + 1, faulted
    if scenario.name == "429 Retry-After 1" and scenario.method == "GET":
        assert len(faulted) >= 2 and faulted[1]["time"] - faulted[0]["time"] >= 0.9, "Retry-After not honoured: %s" % faulted
    if scenario.name.startswith("redirect"):
        followed = [entry for entry in obs.requests if entry["path"].startswith("/rest/moved/")]
        assert not followed, "the redirect was followed%s: %s" % (
            " with the token" if any(entry["auth"] for entry in followed) else "", followed)
        assert all(entry["fault"] == "redirect" for entry in faulted), faulted

    ledger.record("Faults", scenario.name, scenario.where, outcome, seen)
    ledger.checked("no traceback")
    ledger.checked("no token leak")
    if obs.evidence is not None:
        ledger.checked("no partial file")
