"""conditional_pcap when SCS refuses a write: with the analyst's read-only token (403 on every PATCH), and when the
first PATCH is accepted and a later one refused. The task fails with SCS's error, and its result reports only what
SCS accepted: `changed` only when a write went through, each target `written` or not, `after` what SCS holds."""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # inputkit, under --import-mode=importlib

from inputkit import has_traceback, result_has_traceback  # noqa: E402
from runner import BIN, TOKEN_MARKER, Emulator, ansible_env, run_tasks  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Clean errors"
READONLY_MARKER = "tok-READONLY-3e9d1b7a40c2"
DENIED = {"detail": "You do not have permission to perform this action."}


@pytest.fixture(scope="module")
def emu():
    """Conditional pcap off everywhere, so that enabling it is a write on every template."""
    with Emulator(tls=True, seed=97, probes=4, templates=3, alerts=10, flows=6, pcap="none", token=TOKEN_MARKER,
                  readonly_token=READONLY_MARKER) as emulator:
        yield emulator


def flags(emulator):
    state = emulator.state()
    return ({template["name"]: template["conditional_pcap"] for template in state["templates"]},
            {probe["name"]: probe["effective_pcap"] for probe in state["probes"]}, len(state["audit_log"]))


def patches(emulator):
    return [entry for entry in emulator.requests() if entry["method"] == "PATCH"]


def assert_clean(result, run):
    assert not result_has_traceback(result) and not has_traceback(run.stdout, run.stderr)
    for secret in (TOKEN_MARKER, READONLY_MARKER):
        assert secret not in json.dumps(result) and secret not in run.stdout + run.stderr


def test_a_read_only_token_changes_nothing_and_says_so(emu, tmp_path, ledger):
    before = flags(emu)
    emu.clear_requests()
    run = run_tasks(tmp_path, dict(emu.env(), SCS_TOKEN=READONLY_MARKER), [
        {"name": "Enable as analyst", "stamus.scs.conditional_pcap": {"templates": ["all"], "comment": "CHG-7"},
         "register": "denied"},
    ])
    denied = run["denied"]
    assert denied["failed"] and denied["error_type"] == "ScsPermissionError" and denied["http_status"] == 403
    assert denied["changed"] is False and denied["probe_states"] == []
    assert [(t["written"], t["changed"], t["after"] == t["before"]) for t in denied["targets"]] == [(False, False, True)] * 3
    assert "permission rules.configuration_edit" in denied["msg"]
    assert "Nothing was written (3 change(s) due: template perimeter, template datacenter, template branch-offices)." \
        in denied["msg"], denied["msg"]
    assert len(patches(emu)) == 1 and flags(emu) == before  # the first refusal stops the run
    assert_clean(denied, run)
    ledger.checked("no traceback")
    ledger.checked("no token leak")
    ledger.record(CATEGORY, "conditional_pcap with a read-only (analyst) token", "conditional_pcap", "clear error",
                  "changed false, every target written false with after = before; %s" % denied["msg"][:200])


def test_a_write_refused_after_an_accepted_one_reports_only_the_accepted_one(emu, tmp_path, ledger):
    templates = {template["name"]: template["pk"] for template in emu.state()["templates"]}
    first, second, third = "perimeter", "datacenter", "branch-offices"
    emu.clear_faults()
    emu.clear_requests()
    emu.inject_fault(method="PATCH", path=r"appliances/template/%d/$" % templates[second], kind="status", status=403,
                     body=DENIED)
    try:
        run = run_tasks(tmp_path, emu.env(), [
            {"name": "Enable three templates", "stamus.scs.conditional_pcap": {"templates": [first, second, third]},
             "register": "partial"},
        ])
    finally:
        emu.clear_faults()
    partial = run["partial"]
    assert partial["failed"] and partial["error_type"] == "ScsPermissionError"
    assert partial["changed"] is True
    by_name = {target["name"]: target for target in partial["targets"]}
    assert (by_name[first]["written"], by_name[first]["after"], by_name[first]["changed"]) == (True, True, True)
    for name in (second, third):
        assert (by_name[name]["written"], by_name[name]["after"], by_name[name]["changed"]) == (False, False, False)
    assert "Written before it: template %s. Not written: template %s, template %s." % (first, second, third) \
        in partial["msg"], partial["msg"]
    held, effective, _audit = flags(emu)
    assert (held[first], held[second], held[third]) == (True, False, False)
    reported = {probe["name"]: probe["after"] for probe in partial["probe_states"]}
    assert reported and reported == {name: effective[name] for name in reported}, (reported, effective)  # what SCS holds
    assert [entry["path"].rstrip("/").rsplit("/", 1)[-1] for entry in patches(emu)] == [
        str(templates[first]), str(templates[second])]  # the third was never sent
    assert_clean(partial, run)
    ledger.checked("no traceback")
    ledger.checked("no token leak")
    ledger.record(CATEGORY, "conditional_pcap: the first PATCH accepted, the second refused (HTTP 403)",
                  "conditional_pcap", "clear error",
                  "changed true for the accepted template only (written, after true), the others written false with "
                  "after = before, the third never sent; %s" % partial["msg"].split(". ", 1)[0][:120])


def test_the_playbook_summary_says_what_was_not_written(emu, tmp_path, ledger):
    before = flags(emu)
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "stamus.scs.enable_conditional_pcap",
                           "-e", "templates=datacenter,branch-offices"], cwd=str(tmp_path),
                          env=ansible_env(dict(emu.env(), SCS_TOKEN=READONLY_MARKER)), capture_output=True, text=True,
                          timeout=120, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "template datacenter: left off, not written (see the error)" in output, output[-3000:]
    assert "template branch-offices: left off, not written (see the error)" in output
    assert "permission rules.configuration_edit" in output and "Nothing was written" in output
    assert flags(emu)[0] == before[0]
    assert not has_traceback(output) and READONLY_MARKER not in output and TOKEN_MARKER not in output
    ledger.checked("no traceback")
    ledger.checked("no token leak")
    ledger.record(CATEGORY, "enable_conditional_pcap playbook with a read-only token", "conditional_pcap role",
                  "clear error", "the summary lists each template as left off, not written; the play fails with "
                  "SCS's 403 and the permission to ask for")
