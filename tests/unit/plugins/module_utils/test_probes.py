import pytest

from ansible_collections.stamus.scs.plugins.module_utils._client import ScsClient
from ansible_collections.stamus.scs.plugins.module_utils._conditional_pcap import FlagPlan
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsError, ScsPermissionError
from ansible_collections.stamus.scs.plugins.module_utils._probe_api import API_DEFAULTS, resolve_api
from ansible_collections.stamus.scs.plugins.module_utils._probes import (
    ApplyError,
    ProbeManager,
    apply_changes,
    effective_pcap,
    filter_items,
    select,
)

LABEL = "Activate pcap extraction on alerts"


def page(results):
    return {"count": len(results), "next": None, "previous": None, "results": results}


@pytest.fixture
def manager(fake_server):
    client = ScsClient("https://scs.example.net", "tok", sleep=lambda seconds: None)
    clock = iter(range(0, 10000, 1))
    return ProbeManager(client, resolve_api(), sleep=lambda seconds: None, clock=lambda: next(clock))


def test_overrides_are_validated_and_normalised():
    api = resolve_api({"template_path": "/appliances/probe_template", "pcap_field": "pcap_on_alert"})
    assert api["template_path"] == "appliances/probe_template/" and api["pcap_field"] == "pcap_on_alert"
    assert api["overridden"] == ["pcap_field", "template_path"] and api["probe_path"] == API_DEFAULTS["probe_path"]
    with pytest.raises(ScsConfigError, match="unknown key.*valid keys: comment_field"):
        resolve_api({"tempalte_path": "x"})
    with pytest.raises(ScsConfigError, match="must contain {pk}"):
        resolve_api({"task_path": "appliances/task/"})
    with pytest.raises(ScsConfigError, match="non-empty string"):
        resolve_api({"pcap_field": ""})


def test_flag_is_found_by_its_label_whatever_its_name(manager, fake_server):
    fake_server.add("GET", "/rest/appliances/probe/", json=page([{"appliance_id": 4, "name": "p4"}]))
    manager.list_probes()
    fake_server.add("OPTIONS", "/rest/appliances/probe/4/", json={"actions": {"PUT": {
        "descr": {"type": "string", "label": "Description"},
        "pcap_on_alert": {"type": "boolean", "label": LABEL.upper() + " "}}}})
    assert manager.pcap_field("probe", 4) == {"name": "pcap_on_alert", "source": "options"}
    assert manager.pcap_field("probe", 5)["name"] == "pcap_on_alert"
    assert [call.method for call in fake_server.calls] == ["GET", "OPTIONS"]  # discovered once per run


def test_flag_falls_back_to_the_configured_name_without_metadata(manager, fake_server):
    fake_server.add("OPTIONS", "/rest/appliances/template/1/", json={"name": "Template Detail"})
    assert manager.pcap_field("template", 1) == {"name": "conditional_pcap", "source": "configured"}


def test_legacy_probe_collection(manager, fake_server):
    fake_server.add("GET", "/rest/appliances/appliance/", json=page([{"appliance_id": 1, "name": "p1"}]))
    assert manager.list_probes() == [{"appliance_id": 1, "name": "p1"}]
    assert manager.probe_path == "appliances/appliance/"
    assert [call.url.split("?")[0] for call in fake_server.calls] == [
        "https://scs.example.net/rest/appliances/probe/", "https://scs.example.net/rest/appliances/appliance/"]


def test_effective_value_follows_the_template_only_when_inheriting():
    templates = {1: {"flag": True}, 2: {"flag": False}}
    assert effective_pcap({"flag": None, "template": 1}, templates, "flag", "template") is True
    assert effective_pcap({"flag": False, "template": 1}, templates, "flag", "template") is False
    assert effective_pcap({"flag": None, "template": None}, templates, "flag", "template") is False
    assert effective_pcap({"flag": True, "template": 2}, templates, "flag", "template") is True


def test_select_by_name_id_or_all_and_suggest_close_names():
    items = [{"pk": 1, "name": "dmz"}, {"pk": 2, "name": "lab"}]
    assert select(items, ["lab", "1", "lab"], "pk", "template") == [items[1], items[0]]
    assert select(items, ["all"], "pk", "template") == items
    assert select(items, None, "pk", "template") == []
    with pytest.raises(ScsConfigError, match=r"Unknown template\(s\): dzm \(did you mean dmz\?\)"):
        select(items, ["dzm"], "pk", "template")


def test_filter_items():
    items = [{"name": "probe-dmz-01"}, {"name": "probe-dmz-02"}, {"name": "probe-lab-01"}]
    assert filter_items(items, pattern="probe-dmz-*") == items[:2]
    assert filter_items(items, names=["probe-lab-01", "nope"]) == items[2:]
    assert filter_items(items, names=["probe-dmz-01"], pattern="*-02") == []


def test_apply_waits_and_reports_failed_probes(manager, fake_server):
    fake_server.add("GET", "/rest/appliances/probe/", json=page([]))
    fake_server.add("POST", "/rest/appliances/probe/update_push_all/", json={"task_pk": 9})
    fake_server.add("GET", "/rest/appliances/task/9/", json={"pk": 9, "status": "running"}, times=2)
    fake_server.add("GET", "/rest/appliances/task/9/", json={"pk": 9, "status": "finished", "success": False, "results": [
        {"probe": "p1", "status": "success", "message": "ok"},
        {"probe": "p2", "status": "unreachable", "message": "no route to host"}]})
    with pytest.raises(ApplyError, match="task 9 failed: p2 unreachable: no route to host") as info:
        apply_changes(manager, comment="CHG-7")
    assert info.value.to_result()["apply"]["task"]["status"] == "finished"
    assert fake_server.calls[1].body == b'{"comment": "CHG-7"}'


def test_apply_gives_up_after_the_timeout(manager, fake_server):
    fake_server.add("GET", "/rest/appliances/probe/", json=page([]))
    fake_server.add("POST", "/rest/appliances/probe/update_push_all/", json={"task_pk": 3})
    fake_server.add("GET", "/rest/appliances/task/3/", json={"pk": 3, "status": "scheduled"})
    with pytest.raises(ApplyError, match="still scheduled after 5 seconds; raise wait_timeout"):
        apply_changes(manager, timeout=5)


def test_a_refused_write_reports_only_what_scs_accepted(manager, fake_server):
    """First PATCH accepted, the second refused: the plan says so, and the third is never sent."""
    templates = [{"pk": pk, "name": name, "conditional_pcap": False} for pk, name in ((1, "dmz"), (2, "lab"), (3, "edge"))]
    probes = [{"appliance_id": 7, "name": "p7", "template": 1, "conditional_pcap": None},
              {"appliance_id": 8, "name": "p8", "template": 2, "conditional_pcap": None}]
    fake_server.add("GET", "/rest/appliances/template/", json=page(templates))
    fake_server.add("GET", "/rest/appliances/probe/", json=page(probes))
    fake_server.add("OPTIONS", "/rest/appliances/template/1/", json={})
    fake_server.add("OPTIONS", "/rest/appliances/probe/7/", json={})
    fake_server.add("PATCH", "/rest/appliances/template/1/", json=dict(templates[0], conditional_pcap=True))
    fake_server.add("PATCH", "/rest/appliances/template/2/", status=403,
                    json={"detail": "You do not have permission to perform this action."})
    plan = FlagPlan(manager, None, ["all"], "enabled")
    with pytest.raises(ScsPermissionError) as info:
        plan.write("CHG-1")
    assert "Written before it: template dmz. Not written: template lab, template edge." in str(info.value)
    assert "rules.configuration_edit" in str(info.value)
    assert [(t["name"], t["after"], t["changed"], t["written"]) for t in plan.targets] == [
        ("dmz", True, True, True), ("lab", False, False, False), ("edge", False, False, False)]
    report = plan.report(diff=True)
    assert report["changed"] is True and report["diff"]["after"] == {"template/dmz": {"conditional_pcap": True}}
    assert [(p["name"], p["before"], p["after"]) for p in report["probes"]] == [("p7", False, True)]
    assert [call.url.split("/rest/")[1] for call in fake_server.calls if call.method == "PATCH"] == [
        "appliances/template/1/", "appliances/template/2/"]


def test_a_write_refused_at_once_changes_nothing(manager, fake_server):
    fake_server.add("GET", "/rest/appliances/template/", json=page([{"pk": 1, "name": "dmz", "conditional_pcap": True}]))
    fake_server.add("GET", "/rest/appliances/probe/", json=page([{"appliance_id": 7, "name": "p7", "conditional_pcap": None}]))
    fake_server.add("OPTIONS", "/rest/appliances/probe/7/", json={})
    fake_server.add("PATCH", "/rest/appliances/probe/7/", status=503, json={"detail": "Service Unavailable"})
    plan = FlagPlan(manager, ["p7"], None, "disabled")
    with pytest.raises(ScsError, match="Nothing was written \\(1 change\\(s\\) due: probe p7\\)"):
        plan.write()
    assert plan.report() == {"changed": False, "probes": [], "field": plan.fields, "targets": [
        {"kind": "probe", "name": "p7", "id": 7, "field": "conditional_pcap", "before": None, "after": None,
         "changed": False, "written": False}]}
