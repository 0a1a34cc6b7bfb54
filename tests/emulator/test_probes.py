"""Probe Management: probes, templates, OPTIONS, pending/apply cycle, permissions, legacy path."""

import time

import pytest

from scs_emulator.testing import Emulator, EmulatorError

PROBES = "/rest/appliances/probe/"
TEMPLATES = "/rest/appliances/template/"
LABEL = "Activate pcap extraction on alerts"
DENIED = {"detail": "You do not have permission to perform this action."}


def task_of(emu, task_pk):
    return emu.rest("GET", "/rest/appliances/task/%d/" % task_pk).json()


def wait_task(emu, task_pk, timeout=15):
    """The task once it is final: revoked, or finished with no retry due (no eta, or no retry left)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = task_of(emu, task_pk)
        assert task["status"] in ("scheduled", "running", "finished", "revoked")
        if task["status"] == "revoked" or (task["status"] == "finished" and (task["eta"] is None or task["retry"] > 3)):
            return task
        time.sleep(0.05)
    raise AssertionError("task did not finish")


def wait_status(emu, task_pk, status, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = task_of(emu, task_pk)
        if task["status"] == status:
            return task
        time.sleep(0.02)
    raise AssertionError("task never %s" % status)


def outcomes(task):
    return sorted((r["retry_no"], r["probe"], r["status"]) for r in task["results"])


def test_probe_list_and_detail(emu):
    body = emu.rest("GET", PROBES).json()
    assert body["count"] == 3 and [p["name"] for p in body["results"]] == ["probe-01", "probe-02", "probe-03"]
    probe = body["results"][0]
    assert set(probe) == {"appliance_id", "name", "descr", "address", "last_seen", "suri_running", "version",
                          "template", "conditional_pcap", "pending_changes"}
    assert emu.rest("GET", PROBES, params={"name": "probe-02"}).json()["count"] == 1
    page = emu.rest("GET", PROBES, params={"page_size": 1}).json()
    assert len(page["results"]) == 1 and page["next"]
    detail = emu.rest("GET", PROBES + "%d/" % probe["appliance_id"]).json()
    assert detail == probe
    assert emu.rest("GET", PROBES + "999/").status_code == 404
    templates = emu.rest("GET", TEMPLATES).json()
    assert templates["count"] == 2
    assert set(templates["results"][0]) == {"pk", "name", "descr", "conditional_pcap"}
    assert emu.rest("DELETE", PROBES + "1/").status_code == 405
    assert emu.rest("GET", "/rest/rules/scirius_context/").json()["nb_probes"] == 3


def test_options_exposes_the_flag_label(emu):
    for url in (PROBES + "1/", TEMPLATES + "1/"):
        meta = emu.rest("OPTIONS", url).json()
        field = meta["actions"]["PUT"]["conditional_pcap"]
        assert field["type"] == "boolean" and field["label"] == LABEL
        assert field["required"] is False and field["read_only"] is False
    # an analyst cannot write: no PUT action for them
    assert "actions" not in emu.rest("OPTIONS", PROBES + "1/", token=emu.readonly_token).json()


def test_analyst_permissions(emu):
    ro = emu.readonly_token
    assert emu.rest("GET", PROBES, token=ro).status_code == 200
    for method, url, body in (("PATCH", PROBES + "1/", {"conditional_pcap": True}),
                              ("PATCH", TEMPLATES + "1/", {"conditional_pcap": False}),
                              ("POST", PROBES + "update_push_all/", {})):
        resp = emu.rest(method, url, token=ro, json=body)
        assert resp.status_code == 403 and resp.json() == DENIED


def test_auth_failures_are_403(emu):
    resp = emu.rest("GET", "/rest/", headers={"Authorization": "Token nope"})
    assert resp.status_code == 403 and resp.json() == {"detail": "Invalid token."}
    resp = emu.rest("GET", "/rest/", headers={"Authorization": ""})
    assert resp.status_code == 403 and resp.json() == {"detail": "Authentication credentials were not provided."}
    assert "WWW-Authenticate" not in resp.headers


def test_pending_apply_cycle(fresh_emu):
    emu = fresh_emu
    probe2 = emu.rest("GET", PROBES, params={"name": "probe-02"}).json()["results"][0]
    assert probe2["conditional_pcap"] is None and probe2["pending_changes"] is False
    assert all("capture_file" not in a for a in emu.add_alerts(probe="probe-02", count=1))
    resp = emu.rest("PATCH", PROBES + "%d/" % probe2["appliance_id"], json={"conditional_pcap": True, "comment": "enable pcap for IR-42"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["conditional_pcap"] is True and resp.json()["pending_changes"] is True
    assert "comment" not in resp.json()
    # not applied yet: new alerts still have no capture_file
    assert all("capture_file" not in a for a in emu.add_alerts(probe="probe-02", count=1))
    emu.clear_requests()
    task_pk = emu.rest("POST", PROBES + "update_push_all/").json()["task_pk"]
    task = wait_task(emu, task_pk)
    assert task["success"] is True
    assert {r["probe"]: r["status"] for r in task["results"]} == {"probe-01": "success", "probe-02": "success", "probe-03": "success"}
    assert emu.rest("GET", PROBES + "%d/" % probe2["appliance_id"]).json()["pending_changes"] is False
    assert all(a["capture_file"] for a in emu.add_alerts(probe="probe-02", count=2))
    audit = emu.state()["audit_log"]
    assert any(a["comment"] == "enable pcap for IR-42" and a["user"] == "admin" and a["changes"] for a in audit)
    writes = [e for e in emu.requests() if e["method"] == "POST"]
    assert len(writes) == 1


def test_template_patch_then_a_failed_attempt_is_retried(fresh_emu):
    """One unreachable attempt: the task is 'finished' with an eta (a retry due), runs again, and applies."""
    emu = fresh_emu
    emu.configure(task_retry_delay=1.0)
    template = emu.rest("GET", TEMPLATES).json()["results"][0]
    assert template["conditional_pcap"] is True
    resp = emu.rest("PATCH", TEMPLATES + "%d/" % template["pk"], json={"conditional_pcap": False, "comment": "off"})
    assert resp.status_code == 200 and resp.json()["conditional_pcap"] is False
    probes = {p["name"]: p for p in emu.rest("GET", PROBES).json()["results"]}
    assert probes["probe-01"]["pending_changes"] is True
    assert probes["probe-02"]["pending_changes"] is False
    emu.probe_fault("probe-01", status="unreachable", message="probe-01: connection timed out", count=1)
    task_pk = emu.rest("POST", PROBES + "update_push_all/").json()["task_pk"]
    between = wait_status(emu, task_pk, "finished")
    # set_finished: success is true because other probes succeeded; the failed attempt set eta (now + retry delay)
    assert between["retry"] == 1 and between["eta"] and between["success"] is True
    assert [r for r in between["results"] if r["probe"] == "probe-01"] == [
        {"probe": "probe-01", "status": "unreachable", "message": "probe-01: connection timed out", "retry_no": 0}]
    assert emu.rest("GET", PROBES + "1/").json()["pending_changes"] is True
    assert all(a["capture_file"] for a in emu.add_alerts(probe="probe-01", count=1))  # old state still applied
    wait_status(emu, task_pk, "running")  # the retry runs, eta cleared
    task = wait_task(emu, task_pk)
    assert task["retry"] == 2 and task["eta"] is None and task["success"] is True
    assert outcomes(task) == [(0, "probe-01", "unreachable"), (0, "probe-02", "success"), (0, "probe-03", "success"),
                              (1, "probe-01", "success"), (1, "probe-02", "success"), (1, "probe-03", "success")]
    assert emu.rest("GET", PROBES + "1/").json()["pending_changes"] is False
    assert all("capture_file" not in a for a in emu.add_alerts(probe="probe-01", count=1))
    assert emu.rest("PATCH", PROBES + "1/", json={"conditional_pcap": "maybe"}).status_code == 400


def test_a_probe_failing_every_attempt_ends_the_task_after_three_retries(fresh_emu):
    emu = fresh_emu
    emu.configure(task_delay=0.1, task_retry_delay=0.2)
    emu.rest("PATCH", PROBES + "2/", json={"conditional_pcap": True})
    emu.probe_fault("probe-02", status="failed", message="suricata: reload failed", count=-1)
    for probe in ("probe-01", "probe-03"):
        emu.probe_fault(probe, status="unreachable", count=-1)
    task = wait_task(emu, emu.rest("POST", PROBES + "update_push_all/").json()["task_pk"])
    # four attempts, none succeeded: success false; Scirius sets eta on the last failed attempt too
    assert task["status"] == "finished" and task["retry"] == 4 and task["success"] is False and task["eta"]
    assert [r["retry_no"] for r in task["results"] if r["probe"] == "probe-02"] == [0, 1, 2, 3]
    time.sleep(0.5)
    assert task_of(emu, task["pk"])["retry"] == 4  # nothing runs at that eta
    assert emu.rest("GET", PROBES + "2/").json()["pending_changes"] is True


def test_revoke_a_scheduled_task_or_one_waiting_for_its_retry(fresh_emu):
    emu = fresh_emu
    emu.configure(task_delay=2.0, task_retry_delay=3.0)
    emu.rest("PATCH", PROBES + "2/", json={"conditional_pcap": True})
    task_pk = emu.rest("POST", PROBES + "update_push_all/").json()["task_pk"]
    revoked = emu.revoke_task(task_pk)
    assert revoked == {"pk": task_pk, "status": "revoked", "success": True, "retry": 0}
    time.sleep(2.3)
    task = task_of(emu, task_pk)
    assert task["status"] == "revoked" and task["results"] == [] and task["eta"] is None  # it never ran
    assert emu.rest("GET", PROBES + "2/").json()["pending_changes"] is True

    emu.configure(task_delay=0.3)
    emu.probe_fault("probe-02", status="unreachable", count=1)
    task_pk = emu.rest("POST", PROBES + "update_push_all/").json()["task_pk"]
    with pytest.raises(EmulatorError, match="409.*attempt under way"):
        emu.revoke_task(wait_status(emu, task_pk, "running")["pk"])
    assert wait_status(emu, task_pk, "finished")["eta"]
    emu.revoke_task()  # the latest task, waiting for its retry
    time.sleep(3.5)
    task = task_of(emu, task_pk)
    assert task["status"] == "revoked" and task["eta"] is None and task["retry"] == 1
    assert {r["retry_no"] for r in task["results"]} == {0}
    with pytest.raises(EmulatorError, match="409.*revoked"):
        emu.revoke_task(task_pk)


def test_task_status_progression(fresh_emu):
    fresh_emu.configure(task_delay=2.0)
    task_pk = fresh_emu.rest("POST", PROBES + "update_push_all/").json()["task_pk"]
    first = task_of(fresh_emu, task_pk)
    # Scirius's defaults: success true, no attempt made, no eta
    assert first["status"] == "scheduled" and first["success"] is True and first["retry"] == 0 and first["eta"] is None
    time.sleep(1.2)
    assert task_of(fresh_emu, task_pk)["status"] == "running"
    task = wait_task(fresh_emu, task_pk)
    assert task["success"] is True and task["retry"] == 1 and {r["retry_no"] for r in task["results"]} == {0}


def test_open_source_push_is_synchronous_behind_its_setting(fresh_emu):
    emu = fresh_emu
    path = "/rest/suricata/update_push_all/"
    off = emu.rest("POST", path)
    assert off.status_code == 404 and "html" in off.headers["Content-Type"]
    emu.configure(open_source_push=True, task_delay=1.0)
    assert emu.rest("POST", path, token=emu.readonly_token).json() == DENIED
    emu.rest("PATCH", PROBES + "2/", json={"conditional_pcap": True})
    assert emu.rest("POST", path, json={"comment": "CHG-9"}).json() == {"update_push_all": "ok"}
    assert emu.rest("GET", PROBES + "2/").json()["pending_changes"] is False  # applied in the request
    assert emu.rest("POST", path).json() == {"update_push_all": ["Suricata restart already asked"]}
    time.sleep(1.1)
    assert emu.rest("POST", path).json() == {"update_push_all": "ok"}
    assert emu.state()["tasks"] == []
    audit = [a for a in emu.state()["audit_log"] if a["action"] == "suricata.update_push_all"]
    assert [a["comment"] for a in audit] == ["CHG-9", "", ""]


def test_legacy_path():
    with Emulator(tls=False, legacy=True, alerts=20, flows=10) as emu:
        assert emu.rest("GET", "/rest/appliances/probe/").status_code == 404
        body = emu.rest("GET", "/rest/appliances/appliance/").json()
        assert body["count"] == 3
        assert "appliances/appliance" in emu.rest("GET", "/rest/").json()
        meta = emu.rest("OPTIONS", "/rest/appliances/appliance/1/").json()
        assert meta["actions"]["PUT"]["conditional_pcap"]["label"] == LABEL
        assert "task_pk" in emu.rest("POST", "/rest/appliances/appliance/update_push_all/").json()


def test_rename_probe(fresh_emu):
    renamed = fresh_emu.rename_probe("probe-02", "{{ lookup('pipe', 'id') }}\tx")
    probe = fresh_emu.rest("GET", PROBES + "%d/" % renamed["appliance_id"]).json()
    assert probe["name"] == "{{ lookup('pipe', 'id') }}\tx"
    assert "probe-02" not in [p["name"] for p in fresh_emu.rest("GET", PROBES).json()["results"]]
    for name in ("probe-01", "", None):
        with pytest.raises(EmulatorError, match="400"):
            fresh_emu.rename_probe("probe-03", name)
