"""Probe Management against the emulator over HTTPS, as real playbooks: conditional_pcap, apply_changes, *_info, and
the apply task's lifecycle (retries, revocation, warnings, history) and the open-source synchronous apply call."""

import threading
import time

import pytest

from runner import TOKEN_MARKER, Emulator, apply_now, run_tasks

WRITES = ("PATCH", "POST", "PUT", "DELETE")


@pytest.fixture(scope="module")
def site():
    """10 probes on 5 templates, conditional pcap off everywhere."""
    with Emulator(tls=True, seed=51, probes=10, templates=5, alerts=10, flows=5, pcap="none", token=TOKEN_MARKER) as emulator:
        yield emulator


DEFAULT_CONFIG = {"task_delay": 0.5, "task_retry_delay": 1.0, "open_source_push": False}


@pytest.fixture
def fresh_site(site):
    site.configure(**DEFAULT_CONFIG)
    site.clear_faults()
    site.clear_requests()
    site.clear_probe_faults()
    yield site
    site.configure(**DEFAULT_CONFIG)
    site.clear_probe_faults()


def writes(emulator):
    return [(entry["method"], entry["path"]) for entry in emulator.requests() if entry["method"] in WRITES]


def probes_of(state, template_names):
    ids = {template["pk"] for template in state["templates"] if template["name"] in template_names}
    return {probe["name"] for probe in state["probes"] if probe["template"] in ids}


def test_enable_two_templates_then_apply_starts_capture(tmp_path, fresh_site):
    state = fresh_site.state()
    chosen = [state["templates"][0]["name"], state["templates"][1]["name"]]
    members = probes_of(state, chosen)
    run = run_tasks(tmp_path, fresh_site.env(), [
        {"name": "Enable", "stamus.scs.conditional_pcap": {"templates": chosen, "comment": "CHG-1"}, "register": "enable"},
        {"name": "Pending", "stamus.scs.probe_info": {}, "register": "pending"},
        {"name": "Apply", "stamus.scs.apply_changes": {}, "register": "apply"},
        {"name": "After", "stamus.scs.probe_info": {}, "register": "after"},
        {"name": "Templates", "stamus.scs.template_info": {"names": chosen}, "register": "templates"},
    ])
    enable = run["enable"]
    assert enable["changed"] and [t["name"] for t in enable["targets"] if t["changed"]] == chosen
    assert enable["field"]["template"] == {"name": "conditional_pcap", "source": "options"}
    assert {p["name"] for p in run["pending"]["probes"] if p["pending_changes"]} == members and members
    assert set(run["apply"]["pending"]) == members and run["apply"]["apply"]["task"]["success"] is True
    assert not [p for p in run["after"]["probes"] if p["pending_changes"]]
    inheriting = [p for p in run["after"]["probes"] if p["name"] in members and p["conditional_pcap"] is None]
    assert inheriting and all(p["conditional_pcap_effective"] for p in inheriting)
    assert all(t["conditional_pcap"] for t in run["templates"]["templates"])
    assert sorted(sum((t["probes"] for t in run["templates"]["templates"]), [])) == sorted(members)
    assert [entry["comment"] for entry in fresh_site.state()["audit_log"] if entry["action"] == "template.update"][-2:] == ["CHG-1"] * 2

    captured = fresh_site.add_alerts(probe=inheriting[0]["name"], count=1)[0]
    outsider = next(p["name"] for p in run["after"]["probes"] if p["name"] not in members)
    uncaptured = fresh_site.add_alerts(probe=outsider, count=1)[0]
    assert captured.get("capture_file") and "capture_file" not in uncaptured


def test_check_diff_and_rerun_write_nothing(tmp_path, fresh_site):
    state = fresh_site.state()
    probe = state["probes"][-1]["name"]
    task = {"name": "Disable one probe", "stamus.scs.conditional_pcap": {"probes": [probe], "state": "disabled"}, "register": "off"}
    checked = run_tasks(tmp_path, fresh_site.env(), [task], check=True, play_extra={"diff": True})
    assert checked["off"]["changed"] is True and writes(fresh_site) == []
    assert checked["off"]["apply"]["state"] == "pending" and checked["off"]["apply"]["pending"] == [probe]  # predicted
    assert [(entry["name"], entry["after"]) for entry in checked["off"]["probe_states"]] == [(probe, False)]
    assert "probes" not in checked["off"]  # the option's name, not a return value
    assert checked["off"]["diff"] == {"before": {"probe/%s" % probe: {"conditional_pcap": None}},
                                      "after": {"probe/%s" % probe: {"conditional_pcap": False}}}
    assert '"conditional_pcap": null' in checked.stdout and '"conditional_pcap": false' in checked.stdout

    done = run_tasks(tmp_path, fresh_site.env(), [task])
    assert done["off"]["changed"] is True and [m for m, _p in writes(fresh_site)] == ["PATCH"]
    fresh_site.clear_requests()
    again = run_tasks(tmp_path, fresh_site.env(), [task])
    assert again["off"]["changed"] is False and writes(fresh_site) == []
    inherit = run_tasks(tmp_path, fresh_site.env(), [
        {"name": "Back to the template", "stamus.scs.conditional_pcap": {"probes": [probe], "state": "inherited"}, "register": "inherit"},
        {"name": "Inherited template", "stamus.scs.conditional_pcap": {"templates": ["all"], "state": "inherited"}, "register": "bad"},
    ])
    assert inherit["inherit"]["targets"][0]["after"] is None and inherit["inherit"]["changed"]
    assert inherit["bad"]["failed"] and "state=inherited applies to probes only" in inherit["bad"]["msg"]


def test_failed_probe_fails_the_task_with_its_message(tmp_path, fresh_site):
    state = fresh_site.state()
    template = state["templates"][2]["name"]
    victim = sorted(probes_of(state, [template]) or [state["probes"][0]["name"]])[0]
    fresh_site.configure(task_delay=0.2, task_retry_delay=0.3)
    fresh_site.probe_fault(victim, status="failed", message="suricata: failed to reload ruleset on %s" % victim, count=-1)
    run = run_tasks(tmp_path, fresh_site.env(), [
        {"name": "Enable and apply", "stamus.scs.conditional_pcap": {"templates": [template], "probes": [victim], "apply": True},
         "register": "applied"},
    ])
    result = run["applied"]
    assert result["failed"] and "%s failed: suricata: failed to reload ruleset on %s" % (victim, victim) in result["msg"]
    applied = result["apply"]
    # every attempt failed: 3 retries, then final (the last attempt's eta announces no retry: retry is 4)
    assert applied["state"] == "failed" and applied["attempts"] == 4 and applied["task"]["success"] is True
    mine = next(probe for probe in applied["probes"] if probe["probe"] == victim)
    assert mine["state"] == "failed" and mine["retry_no"] == 3 and [h["retry_no"] for h in mine["history"]] == [0, 1, 2]

    # The flag is already set now, but the failed probe is still pending: apply pushes again.
    fresh_site.clear_probe_faults()
    rerun = run_tasks(tmp_path, fresh_site.env(), [
        {"name": "Apply what is pending", "stamus.scs.conditional_pcap": {"probes": [victim], "apply": True}, "register": "again"},
    ])
    assert rerun["again"]["changed"] is True and not [t for t in rerun["again"]["targets"] if t["changed"]]
    assert rerun["again"]["apply"]["state"] == "applied" and rerun["again"]["apply"]["task"]["success"] is True


def test_read_only_token_gets_a_permission_error_naming_the_permission(tmp_path, fresh_site):
    env = dict(fresh_site.env(), SCS_TOKEN=fresh_site.readonly_token)
    run = run_tasks(tmp_path, env, [
        {"name": "Enable as analyst", "stamus.scs.conditional_pcap": {"templates": ["all"], "state": "disabled"}, "register": "denied"},
        {"name": "Apply as analyst", "stamus.scs.apply_changes": {"force": True}, "register": "push"},
    ])
    denied = run["denied"]
    assert denied["failed"] and denied["error_type"] == "ScsPermissionError"
    assert "permission rules.configuration_edit" in denied["msg"] and "HTTP 403" in denied["msg"]
    assert "permission rules.ruleset_update_push" in run["push"]["msg"]
    assert denied["field"]["template"]["source"] == "configured"  # no write rights: OPTIONS shows no actions


def test_unknown_names_and_bad_overrides_are_clear(tmp_path, fresh_site):
    probe = fresh_site.state()["probes"][0]["name"]
    run = run_tasks(tmp_path, fresh_site.env(), [
        {"name": "Typo", "stamus.scs.conditional_pcap": {"probes": [probe + "x"]}, "register": "typo"},
        {"name": "Unknown key", "stamus.scs.probe_info": {"api_overrides": {"probe_pth": "x/"}}, "register": "key"},
        {"name": "Wrong field", "stamus.scs.conditional_pcap": {"probes": [probe], "api_overrides": {"pcap_field": "pcap_on"}},
         "register": "field"},
    ])
    assert "Unknown probe(s): %sx (did you mean %s" % (probe, probe) in run["typo"]["msg"]
    assert "api_overrides.probe_pth. Supported parameters include" in run["key"]["msg"] and "probe_path" in run["key"]["msg"]
    assert "has no field 'pcap_on'" in run["field"]["msg"] and "api_overrides.pcap_field" in run["field"]["msg"]
    assert writes(fresh_site) == []


def test_legacy_probe_collection_is_found(tmp_path):
    with Emulator(tls=True, seed=52, probes=3, templates=2, alerts=5, flows=3, pcap="none", legacy=True) as old:
        run = run_tasks(tmp_path, old.env(), [
            {"name": "Probes", "stamus.scs.probe_info": {"pattern": "probe-0[12]"}, "register": "probes"},
            {"name": "Enable", "stamus.scs.conditional_pcap": {"probes": ["all"], "apply": True}, "register": "enable"},
        ])
        assert [p["name"] for p in run["probes"]["probes"]] == ["probe-01", "probe-02"]
        assert run["enable"]["apply"]["task"]["success"] is True
        paths = {entry["path"] for entry in old.requests()}
        assert "/rest/appliances/appliance/update_push_all/" in paths


def test_fleet_of_500_probes_and_50_templates(tmp_path):
    with Emulator(tls=True, seed=53, probes=500, templates=50, alerts=10, flows=5, pcap="none") as fleet:
        task = {"name": "Enable everywhere", "stamus.scs.conditional_pcap": {"templates": ["all"]}, "register": "fleet"}
        first = run_tasks(tmp_path, fleet.env(), [task])["fleet"]
        assert first["changed"] and len([t for t in first["targets"] if t["changed"]]) == 50
        assert [m for m, _p in writes(fleet)] == ["PATCH"] * 50
        fleet.clear_requests()
        second = run_tasks(tmp_path, fleet.env(), [task])["fleet"]
        assert second["changed"] is False
        requests = fleet.requests()
        assert writes(fleet) == [] and len(requests) == 4
        assert all(entry["method"] == "OPTIONS" or entry["path"] in ("/rest/appliances/probe/", "/rest/appliances/template/")
                   for entry in requests)


def pending_probe(emulator):
    """Make one probe pending (its own flag flipped) and return its name."""
    probe = emulator.state()["probes"][1]
    flag = not probe["effective_pcap"]
    assert emulator.rest("PATCH", "/rest/appliances/probe/%d/" % probe["appliance_id"],
                         json={"conditional_pcap": flag}).status_code == 200
    emulator.clear_requests()
    return probe["name"]


def probe_entry(applied, name):
    return next(entry for entry in applied["probes"] if entry["probe"] == name)


def test_a_failed_attempt_is_retried_and_applied_and_kept_as_history(tmp_path, fresh_site):
    victim = pending_probe(fresh_site)
    fresh_site.probe_fault(victim, status="unreachable", message="%s: connection timed out" % victim, count=1)
    run = run_tasks(tmp_path, fresh_site.env(), [{"name": "Apply", "stamus.scs.apply_changes": {}, "register": "apply"}])
    result = run["apply"]
    assert not result.get("failed"), result.get("msg")
    applied = result["apply"]
    assert applied["state"] == "applied" and applied["finished"] and applied["attempts"] == 2
    entry = probe_entry(applied, victim)
    assert (entry["state"], entry["status"], entry["retry_no"]) == ("applied", "success", 1)
    assert entry["history"] == [{"retry_no": 0, "status": "unreachable", "message": "%s: connection timed out" % victim}]
    assert "Earlier attempts failed for %s (attempt 2)" % victim in applied["msg"]
    assert not result.get("warnings")
    assert not [p for p in fresh_site.state()["probes"] if p["pending_changes"]]


def test_retrying_at_wait_timeout_fails_saying_when_scs_retries(tmp_path, fresh_site):
    fresh_site.configure(task_retry_delay=30)
    victim = pending_probe(fresh_site)
    fresh_site.probe_fault(victim, status="unreachable", message="no route to host", count=1)
    started = time.monotonic()
    run = run_tasks(tmp_path, fresh_site.env(), [
        {"name": "Apply", "stamus.scs.apply_changes": {"wait_timeout": 4}, "register": "apply"}])
    assert time.monotonic() - started < 25
    result = run["apply"]
    applied = result["apply"]
    task = fresh_site.state()["tasks"][-1]
    assert result["failed"] and task["will_retry"] and task["eta"]
    assert result["msg"].startswith("Apply task %s is still retrying after 4 seconds: attempt 1 of 4 failed (%s unreachable: "
                                    "no route to host); SCS runs the next attempt at " % (task["pk"], victim))
    assert "raise wait_timeout" in result["msg"]
    assert applied["state"] == "retrying" and not applied["finished"] and applied["next_attempt"]
    assert probe_entry(applied, victim)["state"] == "retrying"
    fresh_site.revoke_task(task["pk"])  # leave no retry behind for the next tests


def test_a_task_revoked_in_scs_is_cancelled_not_success(tmp_path, fresh_site):
    """Revoked while waiting for its retry: Scirius leaves success true; the module still fails, saying cancelled."""
    fresh_site.configure(task_retry_delay=4)
    victim = pending_probe(fresh_site)
    fresh_site.probe_fault(victim, status="failed", message="reload failed", count=1)
    revoked = {}

    def revoke_when_waiting():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not revoked:
            waiting = [task for task in fresh_site.state()["tasks"] if task["will_retry"]]
            if waiting:
                revoked.update(fresh_site.revoke_task(waiting[-1]["pk"]))
            time.sleep(0.1)

    thread = threading.Thread(target=revoke_when_waiting)
    thread.start()
    try:
        run = run_tasks(tmp_path, fresh_site.env(), [
            {"name": "Apply", "stamus.scs.apply_changes": {"wait_timeout": 60}, "register": "apply"}])
    finally:
        thread.join()
    result = run["apply"]
    assert revoked["status"] == "revoked" and revoked["success"] is True
    assert result["failed"] and result["apply"]["state"] == "cancelled" and result["apply"]["finished"]
    assert result["msg"].startswith("Apply task %s was cancelled (revoked) in SCS after 1 attempt(s); last results: "
                                    "%s failed: reload failed." % (revoked["pk"], victim))
    assert probe_entry(result["apply"], victim)["state"] == "cancelled"
    assert [p["name"] for p in fresh_site.state()["probes"] if p["pending_changes"]] == [victim]
    fresh_site.clear_probe_faults()
    apply_now(fresh_site)


def test_a_warning_is_applied_and_becomes_a_module_warning(tmp_path, fresh_site):
    victim = pending_probe(fresh_site)
    fresh_site.probe_fault(victim, status="warning", message="Suricata restart already asked.")
    run = run_tasks(tmp_path, fresh_site.env(), [
        {"name": "Check", "stamus.scs.apply_changes": {}, "register": "check", "check_mode": True},
        {"name": "Apply", "stamus.scs.apply_changes": {}, "register": "apply"}])
    check = run["check"]["apply"]
    assert check["state"] == "pending" and check["pending"] == [victim] and check["msg"].startswith("Check mode: nothing pushed")
    result = run["apply"]
    assert not result.get("failed") and result["apply"]["state"] == "applied_with_warning"
    assert probe_entry(result["apply"], victim)["state"] == "applied_with_warning"
    assert result["warnings"] == ["%s applied with a warning: Suricata restart already asked." % victim]
    assert "[WARNING]: %s applied with a warning" % victim in run.stdout + run.stderr


def test_apply_false_reports_the_pending_probes(tmp_path, fresh_site):
    state = fresh_site.state()
    template = state["templates"][0]
    members = sorted(probes_of(state, [template["name"]]))
    run = run_tasks(tmp_path, fresh_site.env(), [
        {"name": "Flip, do not apply", "stamus.scs.conditional_pcap": {
            "templates": [template["name"]], "state": "disabled" if template["conditional_pcap"] else "enabled",
            "apply": False}, "register": "flip"}])
    left = run["flip"]["apply"]
    assert run["flip"]["changed"] and left["state"] == "pending" and left["task_pk"] is None
    assert sorted(left["pending"]) == members and members
    assert left["msg"].startswith("Not applied (apply=false): %d probe(s) " % len(members))
    assert "Update / Push ruleset" in left["msg"] and "stamus.scs.apply_changes" in left["msg"]
    assert [method for method, _path in writes(fresh_site)] == ["PATCH"]
    apply_now(fresh_site)


def test_apply_override_to_the_open_source_synchronous_call(tmp_path, fresh_site):
    """api_overrides.apply_path to Scirius's suricata/update_push_all/: {"update_push_all": "ok"} is applied at once
    (no task), the "restart already asked" list is applied with a warning, a 400 says why."""
    fresh_site.configure(open_source_push=True, task_delay=5)
    victim = pending_probe(fresh_site)
    overrides = {"apply_path": "suricata/update_push_all/", "apply_body": {}}
    run = run_tasks(tmp_path, fresh_site.env(), [
        {"name": "Apply", "stamus.scs.apply_changes": {"api_overrides": overrides, "comment": "CHG-31"}, "register": "ok"},
        {"name": "Again", "stamus.scs.apply_changes": {"api_overrides": overrides, "force": True}, "register": "again"}])
    applied = run["ok"]["apply"]
    assert (applied["state"], applied["task_pk"], applied["path"], applied["probes"]) == (
        "applied", None, "suricata/update_push_all/", [])
    assert run["ok"]["pending"] == [victim] and not [p for p in fresh_site.state()["probes"] if p["pending_changes"]]
    again = run["again"]
    assert again["apply"]["state"] == "applied_with_warning"
    assert again["warnings"] == ["SCS: Suricata restart already asked"]
    posts = [(entry["method"], entry["path"]) for entry in fresh_site.requests() if entry["method"] == "POST"]
    assert posts == [("POST", "/rest/suricata/update_push_all/")] * 2
    assert [a["comment"] for a in fresh_site.state()["audit_log"] if a["action"] == "suricata.update_push_all"][-2:] == [
        "CHG-31", ""]
    assert fresh_site.state()["tasks"][-1]["status"] != "scheduled"  # no task was made by these calls

    fresh_site.inject_fault(method="POST", path="suricata/update_push_all", kind="status", status=400,
                            body={"update_push_all": ["Can not fetch data: 503 Service Unavailable"]})
    fresh_site.configure(open_source_push=False)
    failed = run_tasks(tmp_path, fresh_site.env(), [
        {"name": "Fetch error", "stamus.scs.apply_changes": {"api_overrides": overrides, "force": True}, "register": "fetch"},
        {"name": "Not served", "stamus.scs.apply_changes": {"api_overrides": overrides, "force": True}, "register": "gone"}])
    assert failed["fetch"]["failed"] and failed["fetch"]["error_type"] == "ScsValidationError"
    assert "update_push_all: Can not fetch data: 503 Service Unavailable" in failed["fetch"]["msg"]
    assert failed["gone"]["failed"] and failed["gone"]["error_type"] == "ScsNotFoundError"
