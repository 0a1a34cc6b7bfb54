import datetime
import json
import re

import pytest

from ansible_collections.stamus.scs.plugins.module_utils._apply import ApplyError, apply_changes, judge, pending_result
from ansible_collections.stamus.scs.plugins.module_utils._argspecs import PROBE_API_SPEC, validated_option
from ansible_collections.stamus.scs.plugins.module_utils._client import ScsClient
from ansible_collections.stamus.scs.plugins.module_utils._conditional_pcap import FlagPlan
from ansible_collections.stamus.scs.plugins.module_utils._errors import (
    ScsConfigError,
    ScsError,
    ScsPermissionError,
    ScsProtocolError,
    ScsValidationError,
)
from ansible_collections.stamus.scs.plugins.module_utils._probe_api import API_DEFAULTS, resolve_api
from ansible_collections.stamus.scs.plugins.module_utils._probes import FleetView, ProbeManager, effective_pcap, filter_items, select

LABEL = "Activate pcap extraction on alerts"
NOW = datetime.datetime(2026, 5, 2, 12, 0, tzinfo=datetime.timezone.utc)
SOON = "2026-05-02T12:03:00.412000Z"
PAST = "2026-05-02T11:57:00Z"
PUSH = "/rest/appliances/probe/update_push_all/"
TASK = "/rest/appliances/task/9/"


def page(results):
    return {"count": len(results), "next": None, "previous": None, "results": results}


@pytest.fixture
def manager(fake_server):
    client = ScsClient("https://scs.example.net", "tok", sleep=lambda seconds: None)
    clock = iter(range(0, 10000, 1))
    return ProbeManager(client, resolve_api(), sleep=lambda seconds: None, clock=lambda: next(clock), now=lambda: NOW)


def task(status="finished", success=True, retry=1, eta=None, results=(), **extra):
    return dict({"pk": 9, "status": status, "success": success, "retry": retry, "eta": eta, "results": list(results)},
                **extra)


def result(probe, status, retry_no=0, message=None):
    return {"probe": probe, "status": status, "message": message or "%s %s" % (probe, status), "retry_no": retry_no}


def pushed(fake_server, *answers):
    """An empty probe list, the apply call answering task 9, then the task answering ``answers`` in turn."""
    fake_server.add("GET", "/rest/appliances/probe/", json=page([]))
    fake_server.add("POST", PUSH, json={"task_pk": 9})
    for answer in answers[:-1]:
        fake_server.add("GET", TASK, json=answer, times=1)
    fake_server.add("GET", TASK, json=answers[-1])


def task_polls(fake_server):
    return len([call for call in fake_server.calls if call.url.endswith(TASK)])


def test_overrides_are_validated_and_normalised():
    api = resolve_api({"template_path": "/appliances/probe_template", "pcap_field": "pcap_on_alert"})
    assert api["template_path"] == "appliances/probe_template/" and api["pcap_field"] == "pcap_on_alert"
    assert api["overridden"] == ["pcap_field", "template_path"] and api["probe_path"] == API_DEFAULTS["probe_path"]
    with pytest.raises(ScsConfigError, match="must contain {pk}"):
        resolve_api({"task_path": "appliances/task/"})
    with pytest.raises(ScsConfigError, match="non-empty string"):
        resolve_api({"pcap_field": ""})
    # unset keys, as the argument spec leaves them, keep their defaults and are not "overridden"
    api = resolve_api(checked({"pcap_field": "pcap_on_alert"}))
    assert api["overridden"] == ["pcap_field"] and api["probe_path"] == API_DEFAULTS["probe_path"]


@pytest.mark.parametrize("overrides, message", [
    ({"tempalte_path": "x"}, "api_overrides.tempalte_path. Supported parameters include: apply_body, apply_path, "
                             "comment_field"),
    ({"apply_body": ["comment"]}, "argument 'apply_body' is of type list found in 'api_overrides'"),
    ({"apply_path": "suricata/update_push_all", "push_action": "push/"},
     "parameters are mutually exclusive: apply_path|push_action found in api_overrides"),
])
def test_overrides_are_checked_by_their_argument_spec(overrides, message):
    with pytest.raises(ScsConfigError, match=re.escape(message)):
        checked(overrides)


def checked(overrides):
    return validated_option(PROBE_API_SPEC, "api_overrides", overrides)


def test_apply_path_override_is_normalised():
    assert resolve_api({"apply_path": "/suricata/update_push_all"})["apply_path"] == "suricata/update_push_all/"
    assert resolve_api()["apply_body"] == {} and API_DEFAULTS["apply_body"] == {}


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
    pushed(fake_server, task("running", retry=0), task("running", retry=0), task(
        success=True, retry=4, eta=SOON, results=[result("p1", "success", 3), result("p2", "unreachable", 3, "no route to host")]))
    with pytest.raises(ApplyError, match="task 9 failed after 4 attempt\\(s\\): p2 unreachable: no route to host") as info:
        apply_changes(manager, comment="CHG-7")
    applied = info.value.to_result()["apply"]
    assert applied["state"] == "failed" and applied["task"]["status"] == "finished" and applied["finished"] is True
    assert [(p["probe"], p["state"]) for p in applied["probes"]] == [("p1", "applied"), ("p2", "unreachable")]
    assert fake_server.calls[1].body == b'{"comment": "CHG-7"}' and task_polls(fake_server) == 3


def test_apply_applied_everywhere(manager, fake_server):
    pushed(fake_server, task("scheduled", retry=0), task(results=[result("p1", "success"), result("p2", "success")]))
    applied = apply_changes(manager)
    assert applied["state"] == "applied" and applied["finished"] is True and applied["attempts"] == 1
    assert [(p["probe"], p["state"], p["retry_no"], p["history"]) for p in applied["probes"]] == [
        ("p1", "applied", 0, []), ("p2", "applied", 0, [])]
    assert applied["msg"] == "Apply task 9: applied on 2 probe(s) after 1 attempt(s)." and applied["warnings"] == []
    assert fake_server.calls[1].body is None  # no comment, no apply_body: no body, as the SCS web UIs send


def test_apply_gives_up_after_the_timeout(manager, fake_server):
    pushed(fake_server, task("scheduled", retry=0))
    with pytest.raises(ApplyError, match="still scheduled after 5 seconds; raise wait_timeout") as info:
        apply_changes(manager, timeout=5)
    assert info.value.detail["state"] == "in_progress" and info.value.detail["finished"] is False


def test_revoked_is_cancelled_never_success(manager, fake_server):
    """Scirius's revoke leaves success as it was (true): still a failure."""
    pushed(fake_server, task("revoked", success=True, retry=1, results=[
        result("p1", "success"), result("p2", "failed", 0, "suricata: reload failed")]))
    with pytest.raises(ApplyError, match="task 9 was cancelled \\(revoked\\) in SCS after 1 attempt\\(s\\); last results: "
                                         "p2 failed: suricata: reload failed") as info:
        apply_changes(manager)
    assert [(p["probe"], p["state"]) for p in info.value.detail["probes"]] == [("p1", "applied"), ("p2", "cancelled")]
    assert info.value.detail["state"] == "cancelled" and info.value.detail["finished"] is True


def test_a_revoked_scheduled_task_is_cancelled_at_once(manager, fake_server):
    pushed(fake_server, task("revoked", retry=0))
    with pytest.raises(ApplyError, match="cancelled \\(revoked\\) in SCS after 0 attempt\\(s\\)\\. The changes stay pending"):
        apply_changes(manager)
    assert task_polls(fake_server) == 1


def test_retrying_is_waited_for_and_earlier_attempts_are_history(manager, fake_server):
    """Attempt 0 fails on p2: the task is 'finished' with an eta (success stays true: p1 succeeded). It is not final;
    the retry runs and applies. p2's failed attempt 0 is history, not a failure."""
    first = [result("p1", "success", 0), result("p2", "unreachable", 0, "connection timed out")]
    pushed(fake_server, task(retry=1, eta=SOON, results=first), task("running", retry=1, results=first),
           task(retry=2, results=first + [result("p1", "success", 1), result("p2", "success", 1)]))
    applied = apply_changes(manager)
    assert applied["state"] == "applied" and applied["attempts"] == 2 and task_polls(fake_server) == 3
    p2 = applied["probes"][1]
    assert (p2["probe"], p2["state"], p2["retry_no"]) == ("p2", "applied", 1)
    assert p2["history"] == [{"retry_no": 0, "status": "unreachable", "message": "connection timed out"}]
    assert "Earlier attempts failed for p2 (attempt 2); their latest attempt counts." in applied["msg"]


def test_retrying_until_the_timeout_says_when_scs_retries(manager, fake_server):
    pushed(fake_server, task(success=False, retry=2, eta=SOON, results=[
        result("p2", "failed", 0, "boom"), result("p2", "unreachable", 1, "Traceback ...\nOSError: no route to host")]))
    with pytest.raises(ApplyError) as info:
        apply_changes(manager, timeout=5)
    message = str(info.value)
    assert message.startswith("Apply task 9 is still retrying after 5 seconds: attempt 2 of 4 failed (p2 unreachable: "
                              "Traceback ... OSError: no route to host); SCS runs the next attempt at %s" % SOON)
    assert "raise wait_timeout" in message and "stamus.scs.probe_info" in message
    detail = info.value.detail
    assert detail["state"] == "retrying" and detail["finished"] is False and detail["next_attempt"] == SOON
    assert detail["probes"][0]["state"] == "retrying" and detail["probes"][0]["history"][0]["status"] == "failed"
    assert task_polls(fake_server) > 1


def test_a_retry_running_at_the_timeout_is_retrying(manager, fake_server):
    pushed(fake_server, task("running", retry=1, results=[result("p1", "failed", 0, "boom")]))
    with pytest.raises(ApplyError, match="still retrying after 5 seconds: attempt 1 of 4 failed \\(p1 failed: boom\\); "
                                         "attempt 2 is running now\\.") as info:
        apply_changes(manager, timeout=5)
    assert info.value.detail["state"] == "retrying" and info.value.detail["probes"][0]["state"] == "retrying"


def test_the_last_failed_attempt_is_final_though_it_has_an_eta(manager, fake_server):
    """Scirius sets eta before asking Celery for a retry, also when no retry is left: retry > 3 is final."""
    pushed(fake_server, task(success=False, retry=4, eta=SOON, results=[result("p1", "failed", n) for n in range(4)]))
    with pytest.raises(ApplyError, match="task 9 failed after 4 attempt\\(s\\): p1 failed: p1 failed"):
        apply_changes(manager)
    assert task_polls(fake_server) == 1


@pytest.mark.parametrize("fields, state", [
    ({"success": False, "retry": 2}, "retrying"),  # no eta field: success false while retries remain
    ({"success": False, "retry": 4}, "failed"),
    ({"success": False}, "failed"),  # neither eta nor retry: nothing says a retry is due
    ({"success": True, "retry": 1}, "failed"),  # p1's latest attempt failed, no retry announced
    ({"success": False, "eta": SOON}, "retrying"),  # no retry counter: an eta still to come
    ({"success": False, "eta": PAST}, "failed"),
    ({"success": False, "eta": "soon"}, "failed"),
    ({"success": False, "retry": 2, "eta": None}, "failed"),  # a task that does not retry never gets an eta
])
def test_retrying_is_told_by_eta_then_by_success_and_retry(fields, state):
    answer = dict({"pk": 9, "status": "finished", "results": [result("p1", "failed")]}, **fields)
    assert judge(answer, NOW)["state"] == state


def test_warning_is_success_with_the_warning_surfaced(manager, fake_server):
    pushed(fake_server, task(results=[result("p1", "success"), result("p2", "warning", 0, "Suricata restart already asked.")]))
    applied = apply_changes(manager)
    assert applied["state"] == "applied_with_warning"
    assert [(p["probe"], p["state"]) for p in applied["probes"]] == [("p1", "applied"), ("p2", "applied_with_warning")]
    assert applied["warnings"] == ["p2 applied with a warning: Suricata restart already asked."]


def test_results_without_probe_or_retry_no_are_judged_in_order(manager, fake_server):
    """Open-source Scirius results name no probe: one entry, its latest result last."""
    pushed(fake_server, task(results=[{"status": "failed", "message": "first"}, {"status": "success", "message": "then"}]))
    applied = apply_changes(manager)
    assert [(p["probe"], p["state"], p["message"], len(p["history"])) for p in applied["probes"]] == [
        (None, "applied", "then", 1)]


@pytest.mark.parametrize("answer, match", [
    (task("exploded"), "status 'exploded', not one of finished, revoked, running, scheduled"),
    (dict(task(), results={"p1": "success"}), "results are {'p1': 'success'} instead of a list"),
    (["not", "a", "task"], "answered \\['not', 'a', 'task'\\] instead of a task object"),
])
def test_an_unusable_task_answer_is_a_protocol_error(manager, fake_server, answer, match):
    pushed(fake_server, answer)
    with pytest.raises(ScsProtocolError, match=match):
        apply_changes(manager)


def test_without_wait_the_task_is_started_not_followed(manager, fake_server):
    pushed(fake_server, task("scheduled"))
    applied = apply_changes(manager, wait=False)
    assert applied["state"] == "started" and applied["task_pk"] == 9 and task_polls(fake_server) == 0
    assert "not followed (wait=false)" in applied["msg"]


def test_open_source_synchronous_answers(fake_server):
    """apply_path to Scirius's suricata/update_push_all/: "ok" is applied at once, a list of messages is a warning,
    a 400 says why; there is no task to follow and the probe list is not needed for the path."""
    client = ScsClient("https://scs.example.net", "tok", sleep=lambda seconds: None)
    api = resolve_api({"apply_path": "suricata/update_push_all/", "apply_body": {"sync": True}})
    manager = ProbeManager(client, api, sleep=lambda seconds: None)
    path = "/rest/suricata/update_push_all/"
    fake_server.add("POST", path, json={"update_push_all": "ok"}, times=1)
    fake_server.add("POST", path, json={"update_push_all": ["Suricata restart already asked"]}, times=1)
    fake_server.add("POST", path, status=400, json={"update_push_all": ["Can not fetch data: 503 on rules source"]})
    applied = apply_changes(manager, comment="CHG-9")
    assert (applied["state"], applied["task_pk"], applied["finished"], applied["probes"]) == ("applied", None, True, [])
    assert applied["path"] == "suricata/update_push_all/" and "no per-probe result" in applied["msg"]
    assert json.loads(fake_server.calls[0].body) == {"sync": True, "comment": "CHG-9"}
    warned = apply_changes(manager)
    assert warned["state"] == "applied_with_warning" and warned["warnings"] == ["SCS: Suricata restart already asked"]
    with pytest.raises(ScsValidationError, match="update_push_all: Can not fetch data: 503 on rules source"):
        apply_changes(manager)
    assert [call.method for call in fake_server.calls] == ["POST"] * 3


@pytest.mark.parametrize("answer", [{"update_push_all": "maybe"}, {"update_push_all": []}, {"update_push_all": [3]},
                                    {"status": "ok"}])
def test_an_unknown_apply_answer_names_both_shapes(manager, fake_server, answer):
    fake_server.add("GET", "/rest/appliances/probe/", json=page([]))
    fake_server.add("POST", PUSH, json=answer)
    with pytest.raises(ScsProtocolError, match='without a usable task_pk nor an update_push_all status.*"ok"'):
        apply_changes(manager)


def test_legacy_collection_gets_the_legacy_apply_path(manager, fake_server):
    fake_server.add("GET", "/rest/appliances/appliance/", json=page([]))
    fake_server.add("POST", "/rest/appliances/appliance/update_push_all/", json={"task_pk": 9})
    assert apply_changes(manager, wait=False)["path"] == "appliances/appliance/update_push_all/"


def test_pending_result_lists_the_probes_and_how_to_apply():
    names = ["p%02d" % n for n in range(12)]
    left = pending_result(names, "apply=false")
    assert left["state"] == "pending" and left["pending"] == names and left["task_pk"] is None
    assert left["msg"].startswith("Not applied (apply=false): 12 probe(s) p00, p01,")
    assert "p09 and 2 more pending in SCS. Apply them in the SCS web interface (\"Update / Push ruleset\"" in left["msg"]
    assert left["msg"].endswith("or stamus.scs.apply_changes.")


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
    plan = FlagPlan.read(manager, None, ["all"], "enabled")
    with pytest.raises(ScsPermissionError) as info:
        plan.write("CHG-1")
    assert "Written before it: template dmz. Not written: template lab, template edge." in str(info.value)
    assert "rules.configuration_edit" in str(info.value)
    assert [(t["name"], t["after"], t["changed"], t["written"]) for t in plan.targets] == [
        ("dmz", True, True, True), ("lab", False, False, False), ("edge", False, False, False)]
    report = plan.report(diff=True)
    assert report["changed"] is True and report["diff"]["after"] == {"template/dmz": {"conditional_pcap": True}}
    assert [(p["name"], p["before"], p["after"]) for p in report["probe_states"]] == [("p7", False, True)]
    assert [call.url.split("/rest/")[1] for call in fake_server.calls if call.method == "PATCH"] == [
        "appliances/template/1/", "appliances/template/2/"]


def test_a_write_refused_at_once_changes_nothing(manager, fake_server):
    fake_server.add("GET", "/rest/appliances/template/", json=page([{"pk": 1, "name": "dmz", "conditional_pcap": True}]))
    fake_server.add("GET", "/rest/appliances/probe/", json=page([{"appliance_id": 7, "name": "p7", "conditional_pcap": None}]))
    fake_server.add("OPTIONS", "/rest/appliances/probe/7/", json={})
    fake_server.add("PATCH", "/rest/appliances/probe/7/", status=503, json={"detail": "Service Unavailable"})
    plan = FlagPlan.read(manager, ["p7"], None, "disabled")
    with pytest.raises(ScsError, match="Nothing was written \\(1 change\\(s\\) due: probe p7\\)"):
        plan.write()
    assert plan.report() == {"changed": False, "probe_states": [], "field": plan.fields, "targets": [
        {"kind": "probe", "name": "p7", "id": 7, "field": "conditional_pcap", "before": None, "after": None,
         "changed": False, "written": False}]}


def test_constructors_send_nothing_read_does(manager, fake_server):
    """FleetView and FlagPlan are built from what was read: only their ``read`` asks SCS."""
    templates = [{"pk": 1, "name": "dmz", "conditional_pcap": True}]
    probes = [{"appliance_id": 7, "name": "p7", "template": 1, "conditional_pcap": None}]
    fields = {kind: {"name": "conditional_pcap", "source": "configured"} for kind in ("template", "probe")}
    fleet = FleetView(manager.api, templates, probes, "conditional_pcap", "conditional_pcap")
    plan = FlagPlan(manager, "disabled", templates, probes, ([], probes), fields)
    assert fake_server.calls == []
    assert fleet.probe(probes[0])["conditional_pcap_effective"] is True
    assert [(t["name"], t["before"], t["after"], t["changed"]) for t in plan.targets] == [("p7", None, False, True)]
    fake_server.add("GET", "/rest/appliances/template/", json=page(templates))
    fake_server.add("GET", "/rest/appliances/probe/", json=page(probes))
    fake_server.add("OPTIONS", "/rest/appliances/probe/7/", json={})
    fake_server.add("OPTIONS", "/rest/appliances/template/1/", json={})
    read = FleetView.read(manager)
    assert [view["name"] for view in map(read.probe, read.probes)] == ["p7"] and len(fake_server.calls) == 4
