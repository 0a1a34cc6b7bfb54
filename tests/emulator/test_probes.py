"""Probe Management: probes, templates, OPTIONS, pending/apply cycle, permissions, legacy path."""

import time

import pytest

from scs_emulator.testing import Emulator, EmulatorError

PROBES = "/rest/appliances/probe/"
TEMPLATES = "/rest/appliances/template/"
LABEL = "Activate pcap extraction on alerts"
DENIED = {"detail": "You do not have permission to perform this action."}


def wait_task(emu, task_pk, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = emu.rest("GET", "/rest/appliances/task/%d/" % task_pk).json()
        assert task["status"] in ("scheduled", "running", "finished", "revoked")
        if task["status"] == "finished":
            return task
        time.sleep(0.05)
    raise AssertionError("task did not finish")


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


def test_template_patch_and_failed_apply(fresh_emu):
    emu = fresh_emu
    template = emu.rest("GET", TEMPLATES).json()["results"][0]
    assert template["conditional_pcap"] is True
    resp = emu.rest("PATCH", TEMPLATES + "%d/" % template["pk"], json={"conditional_pcap": False, "comment": "off"})
    assert resp.status_code == 200 and resp.json()["conditional_pcap"] is False
    probes = {p["name"]: p for p in emu.rest("GET", PROBES).json()["results"]}
    assert probes["probe-01"]["pending_changes"] is True
    assert probes["probe-02"]["pending_changes"] is False
    emu.probe_fault("probe-01", status="unreachable", message="probe-01: connection timed out")
    task = wait_task(emu, emu.rest("POST", PROBES + "update_push_all/").json()["task_pk"])
    assert task["success"] is False
    result = [r for r in task["results"] if r["probe"] == "probe-01"][0]
    assert result == {"probe": "probe-01", "status": "unreachable", "message": "probe-01: connection timed out"}
    assert emu.rest("GET", PROBES + "1/").json()["pending_changes"] is True
    assert all(a["capture_file"] for a in emu.add_alerts(probe="probe-01", count=1))  # old state still applied
    task = wait_task(emu, emu.rest("POST", PROBES + "update_push_all/").json()["task_pk"])
    assert task["success"] is True
    assert emu.rest("GET", PROBES + "1/").json()["pending_changes"] is False
    assert all("capture_file" not in a for a in emu.add_alerts(probe="probe-01", count=1))
    assert emu.rest("PATCH", PROBES + "1/", json={"conditional_pcap": "maybe"}).status_code == 400


def test_task_status_progression(fresh_emu):
    fresh_emu.configure(task_delay=2.0)
    task_pk = fresh_emu.rest("POST", PROBES + "update_push_all/").json()["task_pk"]
    first = fresh_emu.rest("GET", "/rest/appliances/task/%d/" % task_pk).json()
    assert first["status"] == "scheduled" and first["success"] is None
    time.sleep(1.2)
    assert fresh_emu.rest("GET", "/rest/appliances/task/%d/" % task_pk).json()["status"] == "running"
    assert wait_task(fresh_emu, task_pk)["success"] is True


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
