"""The playbook enable_conditional_pcap (and so the conditional_pcap role), run with a real ansible-playbook against
the emulator over HTTPS: one PATCH per changed target, one apply, idempotent reruns, check mode, early checks, a probe
that fails every attempt, one that fails once then applies on the retry, a warning, and apply=false."""

import os
import subprocess

import pytest

from runner import BIN, Emulator, ansible_env

PLAYBOOK = "stamus.scs.enable_conditional_pcap"
PUSH = "/rest/appliances/probe/update_push_all/"
PROBE_KEYS = ("template", "conditional_pcap", "effective_pcap", "applied_pcap", "pending_changes")


@pytest.fixture(scope="module")
def fleet():
    """10 probes on 5 templates (probes on perimeter and datacenter, or none), conditional pcap off everywhere."""
    with Emulator(tls=True, seed=41, probes=10, templates=5, alerts=20, flows=10, pcap="none") as emulator:
        yield emulator


@pytest.fixture
def emu(fleet):
    fleet.clear_faults()
    fleet.clear_probe_faults()
    fleet.clear_requests()
    yield fleet
    fleet.clear_probe_faults()


def play(emulator, *args):
    """ansible-playbook of the collection's playbook with raw command-line arguments, on the implicit localhost."""
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), PLAYBOOK, *args], env=ansible_env(emulator.env()),
                          capture_output=True, text=True, timeout=120, check=False)
    assert emulator.token not in proc.stdout + proc.stderr
    return proc


def writes(emulator):
    """(method, path) of every request that could change SCS, then the log is cleared."""
    found = [(entry["method"], entry["path"]) for entry in emulator.requests() if entry["method"] not in ("GET", "OPTIONS")]
    emulator.clear_requests()
    return found


def probes(emulator):
    return {probe["name"]: {key: probe[key] for key in PROBE_KEYS} for probe in emulator.state()["probes"]}


def templates(emulator):
    return {template["name"]: template for template in emulator.state()["templates"]}


def test_two_templates_of_five_one_apply_then_nothing_to_do(emu):
    tpl = templates(emu)
    wanted = {tpl["perimeter"]["pk"], tpl["datacenter"]["pk"]}
    before = probes(emu)
    members = {name for name, probe in before.items() if probe["template"] in wanted}
    assert members and set(before) - members and all(not probe["pending_changes"] for probe in before.values())

    run = play(emu, "-e", "templates=perimeter,datacenter", "-e", "comment=CHG-1042")
    assert run.returncode == 0, run.stdout + run.stderr
    log = writes(emu)
    assert sorted(log) == sorted([("PATCH", "/rest/appliances/template/%d/" % pk) for pk in wanted] + [("POST", PUSH)])

    after_templates = templates(emu)
    assert {name for name, template in after_templates.items() if template["conditional_pcap"]} == {"perimeter", "datacenter"}
    after = probes(emu)
    for name in members:
        own = after[name]["conditional_pcap"]
        assert after[name]["pending_changes"] is False, name
        assert after[name]["applied_pcap"] is after[name]["effective_pcap"] is (True if own is None else own), name
    assert any(after[name]["applied_pcap"] for name in members)
    assert {name: after[name] for name in set(after) - members} == {name: before[name] for name in set(after) - members}
    assert "template perimeter: off -> on" in run.stdout and "template datacenter: off -> on" in run.stdout
    inheriting = sorted(name for name in members if before[name]["conditional_pcap"] is None)
    assert all("%s: off -> on" % name in run.stdout for name in inheriting)
    assert "%s: applied, " % inheriting[0] in run.stdout
    assert "Update / Push ruleset" not in run.stdout  # applied: no advice to apply in the UI
    audit = [entry["action"] for entry in emu.state()["audit_log"] if entry["comment"] == "CHG-1042"]
    assert sorted(audit) == ["probe.update_push_all", "template.update", "template.update"]

    again = play(emu, "-e", "templates=perimeter, datacenter")
    assert again.returncode == 0, again.stdout + again.stderr
    assert writes(emu) == []
    assert "nothing to apply" in again.stdout and "template perimeter: already on" in again.stdout
    assert probes(emu) == after


def test_check_diff_shows_before_and_after_and_writes_nothing(emu):
    before = probes(emu)
    run = play(emu, "-e", '{"templates": ["lab"], "probes": ["probe-04"]}', "--check", "--diff")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "--- before" in run.stdout and "+++ after" in run.stdout
    assert '"template/lab"' in run.stdout and '"probe/probe-04"' in run.stdout
    assert '-        "conditional_pcap": false' in run.stdout and '+        "conditional_pcap": true' in run.stdout
    assert "check mode: nothing was written or applied" in run.stdout and "would apply the changes" in run.stdout
    assert "probe-04: off -> on" in run.stdout
    assert writes(emu) == []
    assert templates(emu)["lab"]["conditional_pcap"] is False and probes(emu) == before


def test_inherited_with_templates_fails_before_any_request(emu):
    run = play(emu, "-e", "templates=lab", "-e", "state=inherited")
    assert run.returncode != 0
    assert "state=inherited is for probes only" in run.stdout and "set the templates (lab) in a separate run" in run.stdout
    assert "Nothing was sent to SCS" in run.stdout
    nothing = play(emu, "-e", "state=disabled")
    assert nothing.returncode != 0 and "Give the templates and/or probes to set, for example -e templates=" in nothing.stdout
    assert emu.requests() == []


@pytest.mark.parametrize("args, message", [
    (("-e", "probes=probe-01", "-e", "state=on"), 'state must be enabled, disabled or inherited (got "on").'),
    (("-e", "probes=probe-01", "-e", "wait_timeout=5m"), 'wait_timeout must be a whole number of seconds (got "5m").'),
    (("-e", "probes=probe-01", "-e", "apply=maybe"), 'apply and wait must be true or false (got apply="maybe", wait=true).'),
])
def test_bad_variables_are_named_as_typed_without_the_role_internals(emu, args, message):
    run = play(emu, *args)
    output = run.stdout + run.stderr
    assert run.returncode != 0 and message + " Nothing was sent to SCS." in output
    assert "conditional_pcap_" not in output and "argument_spec" not in output  # no role variable, no spec dump
    assert emu.requests() == []


def test_singular_template_and_probe_are_accepted(emu):
    run = play(emu, "-e", "template=lab", "-e", "probe=probe-04", "--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "template lab: off -> on" in run.stdout and "probe probe-04: off -> on" in run.stdout
    assert writes(emu) == []


def test_a_module_error_is_shown_once_after_the_summary(emu):
    run = play(emu, "-e", "templates=no-such-template", "-e", "probe=probe-04")
    output = run.stdout + run.stderr
    assert run.returncode != 0
    error = "Unknown template(s): no-such-template."
    # ansible-playbook prints a failed task's message twice: its [ERROR] line and the task result.
    assert output.count(error) == 2 and output.index("not applied: the error follows") < output.index(error)
    assert "rescued=0" in run.stdout and writes(emu) == []


def test_probe_that_fails_to_apply_fails_the_play_then_a_rerun_applies_it(emu):
    """probe-04 fails every attempt: SCS retries 3 times, then the task is final and the play fails."""
    message = "suricata did not restart: disk full on /var/log/suricata"
    emu.probe_fault("probe-04", status="failed", message=message, count=-1)
    run = play(emu, "-e", "probes=probe-04,probe-08", "-e", "apply=true")
    assert run.returncode != 0
    assert "failed after 4 attempt(s): probe-04 failed: %s" % message in run.stdout
    assert "probe-04: failed, %s (earlier, not counted: attempt 1 failed: %s" % (message, message) in run.stdout
    assert "probe-08: applied, " in run.stdout
    assert "running the role again applies the changes still pending" in run.stdout
    assert writes(emu).count(("POST", PUSH)) == 1
    state = probes(emu)
    assert state["probe-04"]["pending_changes"] is True and state["probe-08"]["pending_changes"] is False

    # The flags are already set; the rerun only applies again, for the probe still pending.
    emu.clear_probe_faults()
    rerun = play(emu, "-e", "probes=probe-04,probe-08")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert writes(emu) == [("POST", PUSH)]
    assert "applied on 10 probe(s) after 1 attempt(s)" in rerun.stdout and "probe-04: applied" in rerun.stdout
    state = probes(emu)
    assert state["probe-04"]["pending_changes"] is False and state["probe-04"]["applied_pcap"] is True


def test_a_probe_failing_once_is_applied_by_the_retry_and_its_failure_is_history(emu):
    message = "probe-05: connection timed out"
    emu.probe_fault("probe-05", status="unreachable", message=message, count=1)
    run = play(emu, "-e", "probes=probe-05", "-e", "state=disabled")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "after 2 attempt(s). Earlier attempts failed for probe-05 (attempt 2); their latest attempt counts." in run.stdout
    assert "probe-05: applied, Configuration applied (earlier, not counted: attempt 1 unreachable: %s)" % message in run.stdout
    assert writes(emu) == [("PATCH", "/rest/appliances/probe/5/"), ("POST", PUSH)]
    assert probes(emu)["probe-05"]["pending_changes"] is False


def test_a_warning_is_applied_and_shown(emu):
    emu.probe_fault("probe-06", status="warning", message="Suricata restart already asked.")
    run = play(emu, "-e", "probes=probe-06", "-e", "state=disabled")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "[WARNING]: probe-06 applied with a warning: Suricata restart already asked." in run.stdout + run.stderr
    assert "probe-06: applied_with_warning, Suricata restart already asked." in run.stdout
    assert "applied_with_warning on 10 probe(s)" in run.stdout
    assert probes(emu)["probe-06"]["pending_changes"] is False


def test_apply_false_leaves_the_changes_pending_and_lists_the_probes(emu):
    before = probes(emu)
    assert before["probe-07"]["conditional_pcap"] is False and before["probe-10"]["conditional_pcap"] is None
    run = play(emu, "-e", "probes=probe-07,probe-10", "-e", "state=enabled", "-e", "apply=false")
    assert run.returncode == 0, run.stdout + run.stderr
    assert [method for method, _path in writes(emu)] == ["PATCH", "PATCH"]
    state = probes(emu)
    assert state["probe-07"]["pending_changes"] and state["probe-10"]["pending_changes"]
    assert not state["probe-07"]["applied_pcap"]
    assert ('Not applied (apply=false): 2 probe(s) probe-07, probe-10 pending in SCS. Apply them in the SCS web '
            'interface (\\"Update / Push ruleset\\", which also builds and pushes the ruleset) or '
            'stamus.scs.apply_changes.') in run.stdout
    # pushed by the next run that applies
    again = play(emu, "-e", "probes=probe-07,probe-10")
    assert again.returncode == 0 and writes(emu) == [("POST", PUSH)]
    state = probes(emu)
    assert not state["probe-07"]["pending_changes"] and state["probe-07"]["applied_pcap"]
