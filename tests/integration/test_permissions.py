"""docs/permissions.md against the emulator: with the analyst token (read and pcap workflow, no Probe Management
writes), every module whose row needs only `*_view` permissions works and every other module is refused."""

import os
import re

from runner import REPO, TOKEN_MARKER, run_tasks

ROW = re.compile(r"^\| `(stamus\.scs\.\w+)` \| (.+?) \|", re.M)


def documented_permissions():
    with open(os.path.join(REPO, "docs", "permissions.md")) as handle:
        return {name: set(re.findall(r"`(rules\.\w+)`", perms)) for name, perms in ROW.findall(handle.read())}


def test_every_module_has_a_row():
    modules = {"stamus.scs." + name[:-3] for name in os.listdir(os.path.join(REPO, "plugins", "modules")) if name.endswith(".py")}
    assert modules <= set(documented_permissions())


def test_view_permissions_are_exactly_what_the_analyst_token_can_do(tmp_path, clean_scs):
    alert = next(a for a in clean_scs.alerts() if a.get("capture_file") and len(clean_scs.expected_pcap(a["_id"])) > 24)
    step = {"filename": "{{ uploaded.filename }}", "probe": "{{ uploaded.probe }}"}
    tasks = [
        {"name": "alert_info", "stamus.scs.alert_info": {"flow_id": alert["flow_id"], "limit": 1}, "register": "alert_info"},
        {"name": "pcap_upload", "stamus.scs.pcap_upload": {"alert": alert}, "register": "uploaded"},
        {"name": "pcap_extract", "stamus.scs.pcap_extract": step, "register": "pcap_extract"},
        {"name": "pcap_retrieve", "stamus.scs.pcap_retrieve": step, "register": "pcap_retrieve"},
        {"name": "pcap_download", "stamus.scs.pcap_download": {
            "filename": "{{ uploaded.filename }}", "dest": str(tmp_path / "step.pcap")}, "register": "pcap_download"},
        {"name": "alert_pcap", "stamus.scs.alert_pcap": {"alerts": [alert], "dest": str(tmp_path / "evidence"), "files": True},
         "register": "alert_pcap"},
        {"name": "evidence_bundle", "stamus.scs.evidence_bundle": {
            "manifest": "{{ alert_pcap.results[0].manifest }}", "bundle": str(tmp_path)}, "register": "evidence_bundle"},
        {"name": "evidence_verify", "stamus.scs.evidence_verify": {"path": str(tmp_path / "evidence")},
         "register": "evidence_verify"},
        {"name": "probe_info", "stamus.scs.probe_info": {}, "register": "probe_info"},
        {"name": "template_info", "stamus.scs.template_info": {}, "register": "templates"},
        # the opposite of the template's flag, so that a write is due
        {"name": "conditional_pcap", "stamus.scs.conditional_pcap": {
            "templates": ["{{ templates.templates[0].name }}"],
            "state": "{{ 'disabled' if templates.templates[0].conditional_pcap else 'enabled' }}"}, "register": "conditional_pcap"},
        {"name": "apply_changes", "stamus.scs.apply_changes": {"force": True}, "register": "apply_changes"},
    ]
    run = run_tasks(tmp_path, dict(clean_scs.env(), SCS_TOKEN=clean_scs.readonly_token), tasks, verbosity=2)
    results = dict(run.results, **{"pcap_upload": run["uploaded"], "template_info": run["templates"]})

    documented = documented_permissions()
    for name, result in results.items():
        module = "stamus.scs." + name
        if module not in documented:
            continue
        if all(perm.endswith("_view") for perm in documented[module]):
            assert not result.get("failed"), (module, result.get("msg"))
        else:
            assert result["failed"] and result["error_type"] == "ScsPermissionError", (module, result)
    assert set(documented) - {"stamus.scs." + name for name in results} == set()
    assert results["alert_pcap"]["results"][0]["outcome"] == "fetched"
    assert results["alert_pcap"]["summary"]["flow_events"]["fetched"] == 1
    assert TOKEN_MARKER not in run.stdout + run.stderr and clean_scs.readonly_token not in run.stdout + run.stderr
