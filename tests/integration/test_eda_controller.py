"""The real ansible-rulebook runs the stamus.scs.pcap_on_alert_controller rulebook (source stamus.scs.alerts, action
run_job_template) against the HTTPS emulator and a fake AWX controller (fake_controller.py) that, like AWX, runs the
job template's playbook, a project playbook importing stamus.scs.pcap_for_event, with the launch's extra variables and
the SCS credential's environment. A new severity 1 alert launches exactly one job, of the right template, with only the
alert's reference (never the event), which leaves a verified pcap and custody manifest; an alert of another severity
launches nothing; neither token shows in ansible-rulebook's output. A template that does not prompt for variables gets
no reference, and its job fails."""

import dataclasses
import hashlib
import json
import os
import pathlib
import re
import subprocess
import tempfile
import time

import pytest
import yaml

from fake_controller import FakeController
from runner import BIN, TOKEN_MARKER, Emulator, ansible_env
from test_eda import DEADLINE, manifests, polls, stop, wait_for

pytestmark = pytest.mark.integration

CONTROLLER_TOKEN = "awx-tok-MARKER-93b1e07c4d"
TEMPLATE = "SCS pcap for alert"  # the rulebook's default scs_job_template
ORGANIZATION = "Security"
# The project playbook of the job template, as docs/awx.md and the rulebook's header tell users to write it.
PROJECT_PLAYBOOK = [{"name": "SCS pcap for an EDA event", "ansible.builtin.import_playbook": "stamus.scs.pcap_for_event"}]


@pytest.fixture(scope="module")
def emulator():
    with Emulator(tls=True, seed=29, probes=2, templates=1, alerts=20, flows=10, pcap="all", token=TOKEN_MARKER) as emu:
        yield emu


def job_runner(emulator, project):
    """What AWX does for a launch: ansible-playbook on the project playbook, the launch's extra variables in a file
    given with -e @file (so Ansible treats them as templates, as under AWX), the environment the Stamus Central Server
    credential injects."""
    (project / "pcap_for_event.yml").write_text(yaml.safe_dump(PROJECT_PLAYBOOK, sort_keys=False))

    def run_job(_template, extra_vars):
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=project, delete=False) as handle:
            json.dump(extra_vars, handle)
        try:
            proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "pcap_for_event.yml", "-e", "@" + handle.name],
                                  cwd=project, env=ansible_env(emulator.env()), capture_output=True, text=True,
                                  timeout=DEADLINE, check=False)
        finally:
            os.unlink(handle.name)
        return proc.returncode, proc.stdout + proc.stderr

    return run_job


@dataclasses.dataclass
class RulebookRun:  # pylint: disable=too-many-instance-attributes
    """ansible-rulebook's output and timings, the controller (launches, calls) and its finished jobs, the alerts added."""
    text: str
    controller: FakeController
    jobs: list
    wanted: dict
    other: dict
    evidence: pathlib.Path
    ready: float
    done: float


def run_rulebook(emulator, tmp_path, templates, wanted_fields=None):
    """Run the rulebook against the emulator and a FakeController holding ``templates``, add a severity 2 then a
    severity 1 alert (with ``wanted_fields`` merged in) once the source is polling, and stop when ansible-rulebook has
    seen the launched job end."""
    evidence = tmp_path / "evidence"
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}))
    (tmp_path / "vars.yml").write_text(yaml.safe_dump({"scs_evidence_dir": str(evidence), "scs_organization": ORGANIZATION,
                                                       "scs_poll_interval": 1, "scs_state_file": str(tmp_path / "state.json")}))
    output = tmp_path / "rulebook.log"
    emulator.clear_requests()
    with FakeController(CONTROLLER_TOKEN, job_runner(emulator, project), templates) as controller:
        started = time.monotonic()
        with open(output, "wb") as log:
            proc = subprocess.Popen(  # pylint: disable=consider-using-with
                [os.path.join(BIN, "ansible-rulebook"), "--rulebook", "stamus.scs.pcap_on_alert_controller",
                 "-i", "inventory.yml", "--vars", "vars.yml", "--controller-url", controller.url,
                 "--controller-token", CONTROLLER_TOKEN, "--print-events", "-v"],
                cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                # The job monitor polls every 10 s by default.
                env=ansible_env(dict(emulator.env(), EDA_JOB_TEMPLATE_REFRESH_DELAY="1")))
        try:
            # The first poll only notes the alerts already on SCS; the second proves the source is past it.
            wait_for("two polls of alerts_tail", lambda: len(polls(emulator)) >= 2, proc, output)
            ready = time.monotonic()
            other = emulator.add_alerts(probe="probe-01", count=1, severity=2)[0]
            wanted = emulator.add_alerts(probe="probe-02", count=1, severity=1, fields=wanted_fields)[0]
            wait_for("ansible-rulebook to see the job end",
                     lambda: re.search(r"Job template '.*' (completed successfully|failed) \(job_id", output.read_text()),
                     proc, output)
            done = time.monotonic()
            wait_for("the state file to hold the severity 1 alert",
                     lambda: wanted["_id"] in json.loads((tmp_path / "state.json").read_text())["seen"]
                     if (tmp_path / "state.json").exists() else False, proc, output)
            seen = json.loads((tmp_path / "state.json").read_text())["seen"]
        finally:
            stop(proc)
        jobs = controller.wait_jobs(DEADLINE)
    text = output.read_text()
    # The source filters the severity on SCS (severity: [1] in its arguments): the severity 2 alert is never read.
    assert other["_id"] not in seen and other["_id"] not in text, "the severity 2 alert is not an event"
    assert TOKEN_MARKER not in text and CONTROLLER_TOKEN not in text
    assert not any(TOKEN_MARKER in job["result_stdout"] for job in jobs), "the job output shows the SCS token"
    assert "Traceback" not in text
    assert all(call["authorized"] for call in controller.calls)
    return RulebookRun(text=text, controller=controller, jobs=jobs, wanted=wanted, other=other, evidence=evidence,
                       ready=ready - started, done=done - ready)


def test_severity_1_alert_launches_the_job_template(emulator, tmp_path):
    # A namesake in another organization: the lookup must pick the template by name and organization.
    run = run_rulebook(emulator, tmp_path, [{"name": TEMPLATE, "organization": "Default", "ask_variables_on_launch": True},
                                            {"name": TEMPLATE, "organization": ORGANIZATION, "ask_variables_on_launch": True}])
    assert len(run.controller.launches) == 1, run.controller.launches
    launch = run.controller.launches[0]
    assert launch["template"]["name"] == TEMPLATE
    assert launch["template"]["summary_fields"]["organization"]["name"] == ORGANIZATION
    eda = launch["extra_vars"]["scs_eda"]
    assert launch["extra_vars"] == launch["body"]["extra_vars"] == {
        "dest": str(run.evidence), "scs_eda": eda,
        "scs_alert_ref": {"alert_id": run.wanted["_id"], "probe": "probe-02", "flow_id": run.wanted["flow_id"]}}
    assert eda["rule"] == "Fetch the pcap of a severity 1 alert" and eda["event_uuid"]
    assert [job["status"] for job in run.jobs] == ["successful"], run.jobs[0]["result_stdout"] if run.jobs else run.jobs
    assert "Job template '%s' completed successfully (job_id: %d)" % (TEMPLATE, launch["job"]) in run.text
    assert {call["path"] for call in run.controller.calls} == {
        "/api/v2/config/", "/api/v2/unified_job_templates/", launch["template"]["related"]["launch"], "/api/v2/jobs/"}

    written = manifests(run.evidence)
    assert len(written) == 1, "only the severity 1 alert is fetched: %s" % written
    manifest = json.loads(written[0].read_text())
    pcap = written[0].with_suffix(".pcap")
    assert written[0].parent.name == "probe-02" and pcap.name == "%d.pcap" % run.wanted["flow_id"]
    expected = hashlib.sha256(emulator.expected_pcap(run.wanted["_id"])).hexdigest()
    assert hashlib.sha256(pcap.read_bytes()).hexdigest() == expected == manifest["pcap"]["sha256"]
    assert [alert["_id"] for alert in manifest["alerts"]] == [run.wanted["_id"]]
    assert manifest["collected_by"]["custody"]["eda"] == eda
    print("rulebook ready in %.1fs, job of the severity 1 alert done %.1fs after it was added" % (run.ready, run.done))


def test_template_without_prompt_on_launch_for_variables_fails_the_job(emulator, tmp_path):
    """The controller drops the extra variables of a template that does not prompt for them, event included: the
    job fails on the playbook's check and ansible-rulebook reports it, as the rulebook's header warns."""
    run = run_rulebook(emulator, tmp_path, [{"name": TEMPLATE, "organization": ORGANIZATION}])
    assert len(run.controller.launches) == 1, run.controller.launches
    launch = run.controller.launches[0]
    assert launch["body"]["extra_vars"]["scs_alert_ref"]["alert_id"] == run.wanted["_id"]
    assert launch["extra_vars"] == {}
    assert [job["status"] for job in run.jobs] == ["failed"]
    assert "run it from a rulebook such as stamus.scs.pcap_on_alert" in run.jobs[0]["result_stdout"]
    assert "Job template '%s' failed (job_id: %d)" % (TEMPLATE, launch["job"]) in run.text
    assert not run.evidence.exists()
