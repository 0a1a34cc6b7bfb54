"""Probe Management against the emulator over HTTPS, as real playbooks: conditional_pcap, apply_changes, *_info."""

import pytest

from runner import TOKEN_MARKER, Emulator, run_tasks

WRITES = ("PATCH", "POST", "PUT", "DELETE")


@pytest.fixture(scope="module")
def site():
    """10 probes on 5 templates, conditional pcap off everywhere."""
    with Emulator(tls=True, seed=51, probes=10, templates=5, alerts=10, flows=5, pcap="none", token=TOKEN_MARKER) as emulator:
        yield emulator


@pytest.fixture
def fresh_site(site):
    site.clear_requests()
    site.clear_probe_faults()
    yield site


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
    fresh_site.probe_fault(victim, status="failed", message="suricata: failed to reload ruleset on %s" % victim)
    run = run_tasks(tmp_path, fresh_site.env(), [
        {"name": "Enable and apply", "stamus.scs.conditional_pcap": {"templates": [template], "probes": [victim], "apply": True},
         "register": "applied"},
    ])
    result = run["applied"]
    assert result["failed"] and "%s failed: suricata: failed to reload ruleset on %s" % (victim, victim) in result["msg"]
    assert result["apply"]["task"]["success"] is False

    # The flag is already set now, but the failed probe is still pending: apply pushes again.
    rerun = run_tasks(tmp_path, fresh_site.env(), [
        {"name": "Apply what is pending", "stamus.scs.conditional_pcap": {"probes": [victim], "apply": True}, "register": "again"},
    ])
    assert rerun["again"]["changed"] is True and not [t for t in rerun["again"]["targets"] if t["changed"]]
    assert rerun["again"]["apply"]["task"]["success"] is True


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
    assert "unknown key(s) probe_pth" in run["key"]["msg"] and "probe_path" in run["key"]["msg"]
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
