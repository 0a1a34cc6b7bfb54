"""Code execution from data: alert fields (chosen by whoever sends traffic past a probe) and SCS answers carry Jinja
payloads that would run a command if anything rendered them. The real ansible-rulebook runs the shipped rulebooks
against the HTTPS emulator; the pcap_evidence role, the playbooks and the inventory plugin read the same data. Nothing
may run, the pcaps still arrive, and the data is kept literally."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import markupsafe
import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # injectkit, under --import-mode=importlib

from injectkit import Payloads, clean_strings, hostile_fields  # noqa: E402
from runner import BIN, TOKEN_MARKER, Emulator, ansible_env  # noqa: E402
from test_eda import manifests, polls, stop, wait_for  # noqa: E402
from test_eda_controller import ORGANIZATION, TEMPLATE, run_rulebook  # noqa: E402
from test_inventory import unwrap  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Code execution from data"
INVENTORY = {"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=47, probes=2, templates=1, alerts=60, flows=40, pcap="all", token=TOKEN_MARKER) as emulator:
        yield emulator


@pytest.fixture
def payloads(tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    return Payloads(markers)


def plain_alerts(emulator):
    """The emulator's alerts without payloads: the samples of the fields to poison, the same whatever ran before."""
    return [alert for alert in emulator.alerts() if not payload_strings(alert)]


def add_hostile_alert(emulator, payloads, probe="probe-02", **overrides):
    """One severity 1 alert with a payload in every string field but CHAIN_FIELDS (and in ``overrides``)."""
    fields = dict(hostile_fields(plain_alerts(emulator), payloads), **overrides)
    alert = emulator.add_alerts(probe=probe, count=1, severity=1, fields=fields)[0]
    assert alert["alert"]["severity"] == 1 and alert["capture_file"]
    assert not clean_strings(alert), "strings without a payload: %s" % clean_strings(alert)
    return alert


def payload_strings(value):
    """Every key and string value in ``value`` that holds a payload."""
    if isinstance(value, dict):
        return [key for key in value if "{" in key] + [text for item in value.values() for text in payload_strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in payload_strings(item)]
    return [value] if isinstance(value, str) and "{" in value else []


def start_rulebook(tmp_path, emulator, rulebook, variables, *args, env=None):
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(INVENTORY))
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(variables))
    output = tmp_path / "rulebook.log"
    with open(output, "wb") as log:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [os.path.join(BIN, "ansible-rulebook"), "--rulebook", rulebook, "-i", "inventory.yml", "--vars", "vars.yml",
             "--print-events", "-v"] + list(args),
            cwd=tmp_path, env=ansible_env(dict(emulator.env(), **(env or {}))), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    return proc, output


def state_holds(state_file, ids):
    return state_file.exists() and set(ids) <= set(json.loads(state_file.read_text())["seen"])


def check_evidence(emulator, evidence, alert):
    """The alert's pcap and manifest, checked: right bytes, the alert recorded with its payloads kept literally."""
    [path] = [path for path in manifests(evidence) if alert["_id"] in path.read_text()]
    manifest = json.loads(path.read_text())
    pcap = path.with_suffix(".pcap")
    assert path.parent.name == alert["host"] and pcap.name == "%d.pcap" % alert["flow_id"]
    expected = hashlib.sha256(emulator.expected_pcap(alert["_id"])).hexdigest()
    assert hashlib.sha256(pcap.read_bytes()).hexdigest() == expected == manifest["pcap"]["sha256"]
    [recorded] = [entry for entry in manifest["alerts"] if entry["_id"] == alert["_id"]]
    assert recorded == alert, "the manifest holds the alert as SCS serves it, payloads as text"
    return manifest


def test_rulebook_runs_no_payload_and_fetches_the_pcap(emu, payloads, tmp_path, ledger):
    """ansible-rulebook with the shipped pcap_on_alert rulebook (source, rule, run_playbook pcap_for_event)."""
    evidence = tmp_path / "evidence"
    state = tmp_path / "state.json"
    emu.clear_requests()
    proc, output = start_rulebook(tmp_path, emu, "stamus.scs.pcap_on_alert", {
        "scs_evidence_dir": str(evidence), "scs_poll_interval": 1, "scs_state_file": str(state)})
    try:
        wait_for("two polls of alerts_tail", lambda: len(polls(emu)) >= 2, proc, output)
        wanted = [add_hostile_alert(emu, payloads, probe) for probe in ("probe-01", "probe-02")]
        bad_id = add_hostile_alert(emu, payloads, _id=payloads.next())
        bad_host = add_hostile_alert(emu, payloads, host=payloads.next())
        wait_for("the manifests of both alerts (or a payload that ran)",
                 lambda: payloads.fired() or all(any(alert["_id"] in path.read_text() for path in manifests(evidence))
                                                 for alert in wanted), proc, output)
        assert not payloads.fired(), "payloads ran: %s" % payloads.fired()
        wait_for("the source to skip the alerts whose _id or host is not safe",
                 lambda: output.read_text().count("has no safe reference") >= 2, proc, output)
        wait_for("the state file to hold every alert",
                 lambda: state_holds(state, [alert["_id"] for alert in wanted + [bad_id, bad_host]]), proc, output)
        # Actions run one after the other: once the last event's rules are done, every playbook has ended.
        wait_for("every playbook run to end",
                 lambda: output.read_text().count("PLAY RECAP") >= len(wanted), proc, output)
    finally:
        stop(proc)
    text = output.read_text()
    assert not payloads.fired(), "payloads ran: %s" % payloads.fired()
    ledger.checked("no code executed from data")
    fetched = [check_evidence(emu, evidence, alert) for alert in wanted]
    assert len(manifests(evidence)) == len(wanted), "the alerts without a safe reference are not fetched"
    assert text.count("PLAY RECAP") == len(wanted), "no playbook runs for the alerts without a safe reference"
    assert TOKEN_MARKER not in text + "".join(path.read_text() for path in manifests(evidence))
    ledger.checked("no token leak")
    assert "Traceback" not in text
    ledger.checked("no traceback")
    literal = sum(len(payload_strings(manifest["alerts"])) for manifest in fetched)
    ledger.record(CATEGORY, "every string field of a severity 1 alert (keys, nested values, User-Agent, SNI, DNS name, "
                  "signature, metadata) is a pipe-lookup payload", "ansible-rulebook pcap_on_alert -> pcap_for_event",
                  "survived", "none ran; 2 pcaps fetched with the emulator's sha256; the manifests keep the %d payload "
                  "strings literally" % literal)
    for alert, what in ((bad_id, "_id"), (bad_host, "host")):
        assert alert["_id"] in text or repr(alert["_id"])[:40] in text, "the event reached the rules"
        ledger.record(CATEGORY, "the alert's %s is a pipe-lookup payload" % what, "stamus.scs.alerts event source",
                      "clear error", "warning \"has no safe reference\" quoting its _id and host (repr); no stamus_ref, "
                      "no playbook run, nothing fetched, nothing ran")


def test_controller_rulebook_sends_the_reference_only(emu, payloads, tmp_path, ledger):
    """ansible-rulebook with pcap_on_alert_controller and a fake AWX that runs the job's playbook with the launch's
    extra variables from a file (-e @file), as AWX does."""
    run = run_rulebook(emu, tmp_path, [{"name": TEMPLATE, "organization": ORGANIZATION, "ask_variables_on_launch": True}],
                       wanted_fields=hostile_fields(plain_alerts(emu), payloads))
    assert not payloads.fired(), "payloads ran: %s" % payloads.fired()
    ledger.checked("no code executed from data")
    [launch] = run.controller.launches
    assert set(launch["body"]) == {"extra_vars", "limit"} and not payload_strings(launch["body"])
    assert set(launch["body"]["extra_vars"]) == {"dest", "scs_alert_ref", "scs_eda"}
    assert [job["status"] for job in run.jobs] == ["successful"], run.jobs[0]["result_stdout"][-3000:]
    assert not clean_strings(run.wanted)
    manifest = check_evidence(emu, run.evidence, run.wanted)
    ledger.checked("no token leak")  # run_rulebook checked ansible-rulebook's output and the job's
    ledger.checked("no traceback")
    ledger.record(CATEGORY, "every string field of a severity 1 alert is a pipe-lookup payload",
                  "ansible-rulebook pcap_on_alert_controller -> job template (fake AWX, -e @file)", "survived",
                  "launch extra_vars: dest, scs_alert_ref, scs_eda only (no event); none ran; pcap fetched with the "
                  "emulator's sha256; the manifest keeps %d payload strings literally"
                  % len(payload_strings(manifest["alerts"])))


# -- the same data through the role, the playbooks, the conditional_pcap role and the inventory plugin ----------------

SIGNATURE = 9000001  # the hostile alerts' signature, so that queries select them alone


@pytest.fixture(scope="module")
def data_emu():
    with Emulator(tls=True, seed=53, probes=2, templates=1, alerts=60, flows=40, pcap="all", token=TOKEN_MARKER,
                  extra_args=("--pcap-total-size", "100000000")) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def hostile(data_emu, tmp_path_factory):
    """Two fetchable hostile alerts on probe-01 and one on probe-02 whose capture_file is a payload (so SCS's error
    message carries it), all of signature SIGNATURE."""
    payloads = Payloads(tmp_path_factory.mktemp("markers"), tag="d")
    fields = hostile_fields(plain_alerts(data_emu), payloads)
    fields["alert"]["signature_id"] = SIGNATURE
    alerts = data_emu.add_alerts(probe="probe-01", count=2, severity=1, fields=fields)
    rotated = data_emu.add_alerts(probe="probe-02", count=1, severity=1,
                                  fields=dict(fields, capture_file="/var/log/suricata/fpc/" + payloads.next()))[0]
    assert not any(clean_strings(alert) for alert in alerts + [rotated])
    return {"payloads": payloads, "alerts": alerts, "rotated": rotated}


def play(emulator, playbook, cwd, *args):
    """ansible-playbook with plain -e key=value arguments: payloads reach it only through SCS."""
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), str(playbook)] + list(args), cwd=str(cwd),
                          env=ansible_env(emulator.env()), capture_output=True, text=True, timeout=300, check=False)
    assert TOKEN_MARKER not in proc.stdout + proc.stderr and "Traceback" not in proc.stdout + proc.stderr
    return proc


def role_play(tmp_path, name, role_vars):
    path = tmp_path / ("%s.yml" % name)
    path.write_text(yaml.safe_dump([{
        "name": name, "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [{"name": "Evidence", "ansible.builtin.include_role": {"name": "stamus.scs.pcap_evidence"},
                   "vars": role_vars}]}], sort_keys=False))
    return path


def md_cell(text):
    return text.replace("|", "\\|")


def html_cell(text):
    return str(markupsafe.escape(text))


def test_role_reports_show_alert_data_as_text(data_emu, hostile, tmp_path, ledger):
    alerts, rotated = hostile["alerts"], hostile["rotated"]
    by_id = play(data_emu, role_play(tmp_path, "by_id", {
        "pcap_evidence_dest": str(tmp_path / "md"), "pcap_evidence_alert_ids": [a["_id"] for a in alerts + [rotated]],
        "pcap_evidence_fail_on": "none"}), tmp_path)
    by_query = play(data_emu, role_play(tmp_path, "by_query", {
        "pcap_evidence_dest": str(tmp_path / "html"), "pcap_evidence_signature_id": SIGNATURE,
        "pcap_evidence_since": "1h", "pcap_evidence_report_format": "html", "pcap_evidence_fail_on": "none"}), tmp_path)
    assert not hostile["payloads"].fired(), "payloads ran: %s" % hostile["payloads"].fired()
    ledger.checked("no code executed from data")
    assert by_id.returncode == 0 and by_query.returncode == 0, by_id.stdout[-3000:] + by_query.stdout[-3000:]
    [markdown] = (tmp_path / "md").glob("report-*.md")
    [html] = (tmp_path / "html").glob("report-*.html")
    md_text, html_text = markdown.read_text(), html.read_text()
    for alert in alerts:
        pcap = tmp_path / "md" / alert["host"] / ("%d.pcap" % alert["flow_id"])
        assert pcap.read_bytes() == data_emu.expected_pcap(alert["_id"])
        assert md_cell(alert["alert"]["signature"]) in md_text and html_cell(alert["alert"]["signature"]) in html_text
    assert alert["alert"]["signature"] not in html_text, "HTML escapes the payload's quotes"
    for text, cell in ((md_text, md_cell), (html_text, html_cell)):
        assert cell(rotated["capture_file"]) in text and "rotated" in text, "SCS's message, with the payload, as text"
    ledger.checked("no token leak")
    ledger.checked("no traceback")
    ledger.record(CATEGORY, "payloads in every alert field and in SCS's error message (capture_file)",
                  "role pcap_evidence, by ids (Markdown report) and by query (HTML report)", "survived",
                  "none ran; pcaps fetched with the emulator's bytes; signatures and the rotated message shown as "
                  "text (Markdown cells escaped, HTML entities)")


def test_playbooks_show_alert_data_as_text(data_emu, hostile, tmp_path, ledger):
    alert = hostile["alerts"][0]
    flow = "flow_id=%d" % alert["flow_id"]
    runs = {
        "find_alerts": play(data_emu, "stamus.scs.find_alerts", tmp_path, "-e", "signature_id=%d" % SIGNATURE,
                            "-e", "since=1h"),
        "evidence_pull": play(data_emu, "stamus.scs.evidence_pull", tmp_path, "-e", "signature_ids=%d" % SIGNATURE,
                              "-e", "since=1h", "-e", "dest=%s" % (tmp_path / "pull"), "-e", "fail_on=none",
                              "-e", "report_format=html"),
        "fetch_alert_pcap": play(data_emu, "stamus.scs.fetch_alert_pcap", tmp_path, "-e", "signature_id=%d" % SIGNATURE,
                                 "-e", flow, "-e", "dest=./one", "-e", "report=true"),
        "fetch_alert_pcap_stepwise": play(data_emu, "stamus.scs.fetch_alert_pcap_stepwise", tmp_path,
                                          "-e", "signature_id=%d" % SIGNATURE, "-e", flow, "-e", "dest=./steps"),
    }
    assert not hostile["payloads"].fired(), "payloads ran: %s" % hostile["payloads"].fired()
    ledger.checked("no code executed from data", len(runs))
    for name, run in runs.items():
        assert run.returncode == 0, "%s: %s" % (name, run.stdout[-3000:])
    signature = alert["alert"]["signature"]
    assert signature[:30] in runs["find_alerts"].stdout  # the table's signature column, cut at 60 characters
    assert "alert %s on probe-01: %s" % (alert["_id"], signature) in runs["fetch_alert_pcap_stepwise"].stdout
    [pulled] = (tmp_path / "pull").glob("report-*.html")
    assert html_cell(signature) in pulled.read_text()
    [one] = (tmp_path / "one").glob("report-*.md")
    assert md_cell(signature) in one.read_text()
    for where in ("one", "steps"):
        pcap = tmp_path / where / "probe-01" / ("%d.pcap" % alert["flow_id"])
        assert pcap.read_bytes() == data_emu.expected_pcap(alert["_id"])
    ledger.checked("no token leak", len(runs))
    ledger.checked("no traceback", len(runs))
    for name in runs:
        ledger.record(CATEGORY, "payloads in every alert field", "playbook %s" % name, "survived",
                      "none ran; alert data printed or reported as text; pcaps (where fetched) with the emulator's bytes")


def test_stepwise_refuses_a_probe_name_that_is_not_a_directory_name(data_emu, tmp_path, ledger):
    [alert] = data_emu.add_alerts(probe="probe-01", count=1, fields={"host": "../../escaped",
                                                                     "alert": {"signature_id": SIGNATURE + 1}})
    work = tmp_path / "work"
    work.mkdir()
    run = play(data_emu, "stamus.scs.fetch_alert_pcap_stepwise", work, "-e", "signature_id=%d" % (SIGNATURE + 1),
               "-e", "flow_id=%d" % alert["flow_id"], "-e", "dest=./steps")
    assert run.returncode != 0 and "cannot be used as a directory name" in run.stdout, run.stdout[-3000:]
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["work"], "nothing created, inside or outside dest"
    ledger.checked("no partial file")
    ledger.record("Bad input", "SCS alert whose host is ../../escaped", "playbook fetch_alert_pcap_stepwise",
                  "clear error", "refused before any directory is made: %s" % assertion_message(run.stdout))


def assertion_message(stdout):
    """The msg of the task that failed, from ansible-playbook's output."""
    match = re.search(r'"msg": ("(?:[^"\\]|\\.)*")', stdout)
    return json.loads(match.group(1)) if match else stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def fleet():
    """Probe Management data with payloads: a template name, a probe name, a probe description. SCS caps template
    names at 100 characters: the markers go to a short directory."""
    markers = tempfile.mkdtemp(prefix="pw", dir="/tmp")
    payloads = Payloads(markers, tag="f")
    with Emulator(tls=True, seed=59, probes=3, templates=2, alerts=10, flows=5, pcap="mixed",
                  token=TOKEN_MARKER) as emulator:
        template = emulator.state()["templates"][0]
        names = {"template": payloads.next(), "probe": payloads.word(), "descr": payloads.next() + " - " + payloads.next()}
        assert emulator.rest("PATCH", "/rest/appliances/template/%d/" % template["pk"],
                             json={"name": names["template"]}).status_code == 200
        probe_01 = emulator.rest("GET", "/rest/appliances/probe/", params={"name": "probe-01"}).json()["results"][0]
        assert emulator.rest("PATCH", "/rest/appliances/probe/%d/" % probe_01["appliance_id"],
                             json={"descr": names["descr"]}).status_code == 200
        emulator.rename_probe("probe-03", names["probe"])
        emulator.configure(task_delay=0.2)
        yield {"emu": emulator, "payloads": payloads, "names": names}
    shutil.rmtree(markers)


def test_conditional_pcap_role_shows_names_and_messages_as_text(fleet, tmp_path, ledger):
    emu, names = fleet["emu"], fleet["names"]
    message = fleet["payloads"].next()
    emu.probe_fault(names["probe"], status="warning", message=message)
    try:
        run = play(emu, "stamus.scs.enable_conditional_pcap", tmp_path, "-e", "templates=all", "-e", "probes=all",
                   "-e", "state=disabled")
    finally:
        emu.clear_probe_faults()
    assert not fleet["payloads"].fired(), "payloads ran: %s" % fleet["payloads"].fired()
    ledger.checked("no code executed from data")
    assert run.returncode == 0, run.stdout[-3000:]
    for text in (names["template"], names["probe"], message):
        assert text in run.stdout, "shown as text: %s" % text
    ledger.checked("no token leak")
    ledger.checked("no traceback")
    ledger.record(CATEGORY, "payloads as a template name, a probe name and a probe's apply message",
                  "playbook enable_conditional_pcap (role conditional_pcap)", "survived",
                  "none ran; every target set and applied; the names and the message shown as text")


def test_inventory_plugin_keeps_probe_data_as_text(fleet, tmp_path, ledger):
    emu, names = fleet["emu"], fleet["names"]
    cache = tmp_path / "cache"
    inventory = tmp_path / "fleet.scs.yml"
    inventory.write_text(yaml.safe_dump({
        "plugin": "stamus.scs.probes", "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
        "cache_connection": str(cache),
        "compose": {"site": "scs_descr | regex_replace('^.* - ', '')", "descr_copy": "scs_descr",
                    "label": "inventory_hostname ~ ' on ' ~ (scs_template | default('none', true))"},
        "keyed_groups": [{"key": "scs_descr", "prefix": "descr"}, {"key": "scs_template", "prefix": "tpl"}],
        "groups": {"described": "scs_descr | length > 0", "named": "inventory_hostname is search('pipe')"},
    }))
    listings = [inventory_listing(emu, inventory) for _round in ("from SCS", "from the cache")]
    play_file = tmp_path / "read.yml"
    play_file.write_text(yaml.safe_dump([{"name": "Read the probes' variables", "hosts": "scs_probes",
                                          "gather_facts": False, "tasks": [{
                                              "name": "Show them", "ansible.builtin.debug": {
                                                  "msg": "{{ inventory_hostname }} | {{ scs_descr }} | {{ site }} | "
                                                         "{{ descr_copy }} | {{ label }} | {{ group_names }} | "
                                                         "{{ hostvars[inventory_hostname].scs_template }}"}}]}]))
    run = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(inventory), str(play_file)],
                         env=ansible_env(dict(emu.env(), ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true")),
                         capture_output=True, text=True, timeout=120, check=False)
    assert not fleet["payloads"].fired(), "payloads ran: %s" % fleet["payloads"].fired()
    ledger.checked("no code executed from data", 3)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert listings[0] == listings[1]
    hostvars = listings[0]["_meta"]["hostvars"]
    assert hostvars["probe-01"]["scs_descr"] == hostvars["probe-01"]["descr_copy"] == names["descr"]
    assert hostvars["probe-01"]["site"] == names["descr"].split(" - ")[-1]
    assert names["probe"] in hostvars and hostvars[names["probe"]]["label"].startswith(names["probe"] + " on ")
    assert names["template"] in {variables["scs_template"] for variables in hostvars.values()}
    assert set(listings[0]["named"]["hosts"]) == {names["probe"]}
    for text in (names["probe"], names["descr"], names["template"]):
        assert text in run.stdout
    assert TOKEN_MARKER not in run.stdout + run.stderr and "Traceback" not in run.stdout + run.stderr
    ledger.checked("no token leak")
    ledger.checked("no traceback")
    ledger.record(CATEGORY, "payloads as a probe name, a probe description and a template name",
                  "inventory plugin probes (compose, keyed_groups, groups, cache) and a play reading the host vars",
                  "survived", "none ran, read from SCS or from the cache; host names, host vars and composed vars "
                  "hold the payloads as text; keyed group names sanitized")


def inventory_listing(emu, inventory):
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(inventory), "--list"],
                          env=ansible_env(dict(emu.env(), ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true")),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and TOKEN_MARKER not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    return unwrap(json.loads(proc.stdout))


# -- the token: SCS_TOKEN keeps it out of ansible-rulebook -vv and of Ansible's error context (docs: item 15) ---------

SECRETS = "Secrets"
SOURCE_ARG_RULEBOOK = [{"name": "Token as a source argument", "hosts": "localhost",
                        "sources": [{"stamus.scs.alerts": {"scs_token": TOKEN_MARKER, "interval": 1}}],
                        "rules": [{"name": "Show", "condition": "event.stamus_alert is defined",
                                   "action": {"print_event": {}}}]}]


def rulebook_output(emulator, tmp_path, rulebook, variables, env):
    """ansible-rulebook -vv until the source has polled twice; its output."""
    emulator.clear_requests()
    proc, output = start_rulebook(tmp_path, emulator, rulebook, variables, "-vv", env=env)
    try:
        wait_for("two polls of alerts_tail", lambda: len(polls(emulator)) >= 2, proc, output)
    finally:
        stop(proc)
    return output.read_text()


def test_scs_token_stays_out_of_rulebook_debug_output(emu, tmp_path, ledger):
    (tmp_path / "env").mkdir()
    from_env = rulebook_output(emu, tmp_path / "env", "stamus.scs.pcap_on_alert", {"scs_poll_interval": 1}, None)
    assert TOKEN_MARKER not in from_env and "source_args" in from_env
    ledger.checked("no token leak")
    ledger.record(SECRETS, "API token from SCS_TOKEN, ansible-rulebook -vv (which prints the source arguments)",
                  "ansible-rulebook pcap_on_alert", "survived",
                  "%d KiB of -vv output: token absent" % (len(from_env) // 1024))
    # What the event source docs warn about: a token given as a source argument is in ansible-rulebook's -vv output.
    (tmp_path / "arg").mkdir()
    (tmp_path / "arg" / "rulebook.yml").write_text(yaml.safe_dump(SOURCE_ARG_RULEBOOK, sort_keys=False))
    as_argument = rulebook_output(emu, tmp_path / "arg", "rulebook.yml", {}, {"SCS_TOKEN": ""})
    assert TOKEN_MARKER in as_argument and "source_args" in as_argument


def test_scs_token_stays_out_of_ad_hoc_error_context(emu, tmp_path, ledger):
    def ad_hoc(args, env):
        return subprocess.run([os.path.join(BIN, "ansible"), "localhost", "-m", "stamus.scs.alert_info", "-a", args],
                              cwd=tmp_path, env=ansible_env(dict(emu.env(), **env)), capture_output=True, text=True,
                              timeout=120, check=False)

    from_env = ad_hoc("since=yesterday", {})
    text = from_env.stdout + from_env.stderr
    assert from_env.returncode != 0 and "since must be a positive duration" in text and TOKEN_MARKER not in text
    assert "Origin: <adhoc 'stamus.scs.alert_info' task>" in text  # the context that shows the arguments
    ledger.checked("no token leak")
    ledger.record(SECRETS, "API token from SCS_TOKEN, ad-hoc alert_info that fails", "ansible -m stamus.scs.alert_info",
                  "clear error", "since must be a positive duration ...; Ansible's error context shows the task's "
                  "arguments, token absent")
    # What the connection docs warn about: with -a scs_token=..., Ansible's own error context prints it.
    as_argument = ad_hoc("since=yesterday scs_token=%s" % TOKEN_MARKER, {"SCS_TOKEN": ""})
    assert as_argument.returncode != 0 and TOKEN_MARKER in as_argument.stdout + as_argument.stderr
