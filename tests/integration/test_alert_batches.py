"""Batches of alert_pcap through real playbooks over HTTPS: alerts handed over in a file (a JSON list, an object with
an alerts list, NDJSON), the results modes, the alerts option kept out of the invocation, and check mode reporting
what a run would do."""

import collections
import json

import pytest

from runner import TOKEN_MARKER, Emulator, run_tasks

NO_ROTATION = ("--pcap-total-size", "100000000")


@pytest.fixture(scope="module")
def site():
    """60 alerts over 40 flows on 3 capturing probes, nothing rotated."""
    with Emulator(tls=True, seed=34, probes=3, templates=1, alerts=60, flows=40, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emulator:
        yield emulator


@pytest.fixture
def scs(site):
    site.clear_faults()
    site.clear_requests()
    yield site


def shared_flow_alerts(emulator, flows=3):
    """Every alert of ``flows`` flows that have two alerts or more, and of as many flows with one."""
    alerts = emulator.alerts()
    per_flow = collections.defaultdict(list)
    for alert in alerts:
        per_flow[(alert["host"], alert["flow_id"])].append(alert)
    shared = [group for group in per_flow.values() if len(group) > 1][:flows]
    alone = [group for group in per_flow.values() if len(group) == 1][:flows]
    assert len(shared) == flows and len(alone) == flows
    return [alert for group in shared + alone for alert in group]


def no_capture(template, count):
    base = {key: value for key, value in template.items() if key != "capture_file"}
    return [dict(base, _id="handoffNoCapture%04d" % index, flow_id=1900000000000000 + index) for index in range(count)]


def pcap_calls(emulator):
    return [entry["path"] for entry in emulator.requests() if "/filestore_pcap/" in entry["path"]]


def test_alerts_files_in_each_form_are_fetched_like_the_alerts_option(tmp_path, scs):
    alerts = shared_flow_alerts(scs)
    flows = {(alert["host"], alert["flow_id"]) for alert in alerts}
    (tmp_path / "list.json").write_text(json.dumps(alerts, indent=2))
    (tmp_path / "object.json").write_text(json.dumps({"changed": False, "count": len(alerts), "alerts": alerts}))
    (tmp_path / "lines.ndjson").write_text("\n".join(json.dumps(alert) for alert in alerts + alerts[:2]) + "\n")
    tasks = [{"name": name, "register": name, "stamus.scs.alert_pcap": {
        "alerts_file": str(tmp_path / filename), "dest": str(tmp_path / name), "results": "all"}}
        for name, filename in (("list", "list.json"), ("object", "object.json"), ("lines", "lines.ndjson"))]
    run = run_tasks(tmp_path, scs.env(), tasks)
    for name in ("list", "object", "lines"):
        result = run[name]
        assert not result.get("failed") and result["summary"]["alerts"] == len(alerts), (name, result.get("msg"))
        assert result["summary"]["fetched"] == len(alerts) and result["summary"]["flows"] == len(flows)
        assert sorted(entry["alert_id"] for entry in result["results"]) == sorted(alert["_id"] for alert in alerts)
        for probe, flow_id in flows:
            manifest = json.loads((tmp_path / name / probe / ("%d.json" % flow_id)).read_text())
            expected = sorted(alert["_id"] for alert in alerts if (alert["host"], alert["flow_id"]) == (probe, flow_id))
            assert sorted(alert["_id"] for alert in manifest["alerts"]) == expected
            earliest = min((alert for alert in alerts if alert["_id"] in expected), key=lambda alert: alert["@timestamp"])
            assert manifest["extracted_with_alert"] == earliest["_id"]
            assert (tmp_path / name / probe / ("%d.pcap" % flow_id)).read_bytes() == scs.expected_pcap(earliest["_id"])
    assert len(pcap_calls(scs)) == 3 * 4 * len(flows)  # each flow once per run, whatever its alerts
    assert TOKEN_MARKER not in run.stdout + run.stderr


def test_a_broken_alerts_file_fails_before_any_call_naming_the_line(tmp_path, scs):
    alert = scs.alerts()[0]
    (tmp_path / "broken.ndjson").write_text("%s\n%s\n{\"_id\": \"x\",, }\n" % (json.dumps(alert), json.dumps(alert)))
    (tmp_path / "big.ndjson").write_text("%s\n%s\n" % (json.dumps(alert), json.dumps(dict(alert, pad="p" * (1 << 20)))))
    (tmp_path / "odd.json").write_text(json.dumps([alert, 42, "text"]))
    scs.clear_requests()
    run = run_tasks(tmp_path, scs.env(), [
        {"name": "Broken", "register": "broken",
         "stamus.scs.alert_pcap": {"alerts_file": str(tmp_path / "broken.ndjson"), "dest": str(tmp_path / "broken")}},
        {"name": "Too big", "register": "big",
         "stamus.scs.alert_pcap": {"alerts_file": str(tmp_path / "big.ndjson"), "dest": str(tmp_path / "big")}},
        {"name": "Missing", "register": "missing",
         "stamus.scs.alert_pcap": {"alerts_file": str(tmp_path / "nowhere.json"), "dest": str(tmp_path / "missing")}},
        {"name": "And a query", "register": "both",
         "stamus.scs.alert_pcap": {"alerts_file": str(tmp_path / "odd.json"), "since": "1h", "dest": str(tmp_path / "both")}},
    ])
    assert run["broken"]["failed"] and "broken.ndjson: line 3: not valid JSON" in run["broken"]["msg"]
    assert "one alert per line (NDJSON)" in run["broken"]["msg"]
    assert run["big"]["failed"] and "line 2: the document there is larger than 1048576 characters" in run["big"]["msg"]
    assert run["missing"]["failed"] and "cannot be read: No such file or directory" in run["missing"]["msg"]
    assert run["both"]["failed"] and "Give the alerts one way" in run["both"]["msg"]
    assert scs.requests() == []  # not even the custody context: the file is checked whole first
    for name in ("broken", "big", "missing", "both"):
        assert not list((tmp_path / name).glob("*/*")), name

    odd = run_tasks(tmp_path, scs.env(), [{"name": "Odd", "register": "odd", "stamus.scs.alert_pcap": {
        "alerts_file": str(tmp_path / "odd.json"), "dest": str(tmp_path / "odd"), "fail_on": "none"}}])["odd"]
    assert odd["summary"]["fetched"] == 1 and odd["summary"]["failed"] == 2
    assert [entry["message"] for entry in odd["results"] if entry["outcome"] == "failed"] == [
        "line 1 of alerts_file: alert must be a dict as returned by stamus.scs.alert_info, got int.",
        "line 1 of alerts_file: alert must be a dict as returned by stamus.scs.alert_info, got str."]
    assert odd["failure"].startswith("2 of 3 alert(s) could not be fetched: line 1 of alerts_file")


def test_results_list_every_alert_the_problems_or_none(tmp_path, scs):
    alerts = shared_flow_alerts(scs) + no_capture(scs.alerts()[0], 2)
    (tmp_path / "alerts.json").write_text(json.dumps(alerts))
    tasks = [{"name": mode, "register": "results_" + mode, "stamus.scs.alert_pcap": {
        "alerts_file": str(tmp_path / "alerts.json"), "dest": str(tmp_path / "evidence"), "results": mode}}
        for mode in ("all", "problems", "none", "auto")]
    done = run_tasks(tmp_path, scs.env(), tasks)
    run = {mode: done["results_" + mode] for mode in ("all", "problems", "none", "auto")}
    counts = {mode: run[mode]["summary"] for mode in ("all", "problems", "none", "auto")}
    assert counts["all"]["fetched"] == len(alerts) - 2 and counts["all"]["no_capture"] == 2
    assert all(counts[mode]["present"] == len(alerts) - 2 and counts[mode]["no_capture"] == 2
               for mode in ("problems", "none", "auto"))
    assert len(run["all"]["results"]) == len(alerts) and run["all"]["results_listed"] == "all"
    assert [entry["outcome"] for entry in run["problems"]["results"]] == ["no_capture", "no_capture"]
    assert run["problems"]["results"][0]["signature"] == alerts[-1]["alert"]["signature"]
    assert run["none"]["results"] == [] and run["none"]["results_listed"] == "none"
    assert len(run["auto"]["results"]) == len(alerts) and run["auto"]["results_listed"] == "all"
    assert all(not run[mode].get("failed") and run[mode]["failure"] is None for mode in counts)


def test_auto_lists_only_the_problems_of_a_large_run_and_warns(tmp_path, scs):
    real = shared_flow_alerts(scs, flows=1)
    alerts = no_capture(scs.alerts()[0], 1200) + real
    with open(tmp_path / "handoff.ndjson", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(alert) + "\n" for alert in alerts)
    run = run_tasks(tmp_path, scs.env(), [{"name": "Large", "register": "large", "stamus.scs.alert_pcap": {
        "alerts_file": str(tmp_path / "handoff.ndjson"), "dest": str(tmp_path / "evidence")}}])
    large = run["large"]
    assert large["summary"]["alerts"] == 1200 + len(real) and large["summary"]["no_capture"] == 1200
    assert large["summary"]["fetched"] == len(real) and large["results_listed"] == "problems"
    assert len(large["results"]) == 1000 and large["results_unlisted"] == 200
    assert {entry["outcome"] for entry in large["results"]} == {"no_capture"}
    assert any("more than 1000 alerts (%d)" % len(alerts) in warning for warning in large["warnings"])
    assert any("200 more alert(s) with a problem are not listed" in warning for warning in large["warnings"])


def test_the_alerts_option_is_not_echoed_in_the_invocation(tmp_path, scs):
    marker = "not-echoed-7c41e9"
    alerts = [dict(alert, note=marker) for alert in shared_flow_alerts(scs, flows=1)]
    run = run_tasks(tmp_path, scs.env(), [{"name": "Given", "register": "given", "stamus.scs.alert_pcap": {
        "alerts": alerts, "dest": str(tmp_path / "evidence")}}], verbosity=3)
    assert run["given"]["summary"]["fetched"] == len(alerts)
    # -vvv shows the invocation (Ansible does not register it): the other options as given, the alerts as a count.
    assert '"module_args": {' in run.stdout and '"dest": "%s"' % (tmp_path / "evidence") in run.stdout
    assert '"alerts": "(%d item(s), not echoed)"' % len(alerts) in run.stdout
    assert marker not in run.stdout + run.stderr
    manifest = json.loads(next((tmp_path / "evidence").glob("*/*.json")).read_text())
    assert manifest["alerts"][0]["note"] == marker  # kept as evidence, only not echoed


def test_check_mode_reports_what_a_run_would_do(tmp_path, scs):
    alerts = shared_flow_alerts(scs) + no_capture(scs.alerts()[0], 1)
    (tmp_path / "alerts.json").write_text(json.dumps(alerts))
    task = {"alerts_file": str(tmp_path / "alerts.json"), "dest": str(tmp_path / "evidence"), "results": "all"}
    checked = run_tasks(tmp_path, scs.env(), [{"name": "Check", "register": "check", "stamus.scs.alert_pcap": task}],
                        check=True)["check"]
    assert checked["changed"] and checked["summary"]["fetch"] == len(alerts) - 1
    assert checked["summary"]["no_capture"] == 1 and checked["summary"]["alerts"] == len(alerts)
    assert {entry["outcome"] for entry in checked["results"]} == {"fetch", "no_capture"}
    assert not (tmp_path / "evidence").exists() and pcap_calls(scs) == []
    run_tasks(tmp_path, scs.env(), [{"name": "Fetch", "register": "fetch", "stamus.scs.alert_pcap": task}])
    again = run_tasks(tmp_path, scs.env(), [{"name": "Check", "register": "check", "stamus.scs.alert_pcap": task}],
                      check=True)["check"]
    assert not again["changed"] and again["summary"]["present"] == len(alerts) - 1
    assert set(again["results"][0]) == set(checked["results"][0]) and again["results"][0]["sha256"]


def test_mode_is_read_as_pcap_download_reads_it(tmp_path, scs):
    """An unquoted YAML 0600 (an integer) and a symbolic mode give the files and directories the same bits as the
    quoted octal string, as in pcap_download; a bad mode fails before any call to SCS."""
    alerts = shared_flow_alerts(scs, flows=1)
    modes = {"octal": "0600", "number": 0o600, "symbolic": "u=rw,g=,o="}
    tasks = [{"name": name, "register": name, "stamus.scs.alert_pcap": {
        "alerts": alerts, "dest": str(tmp_path / name), "mode": mode}} for name, mode in modes.items()]
    tasks.append({"name": "bad", "register": "bad", "stamus.scs.alert_pcap": {
        "alerts": alerts, "dest": str(tmp_path / "bad"), "mode": "u=banana"}})
    run = run_tasks(tmp_path, scs.env(), tasks)
    for name in modes:
        assert run[name]["summary"]["fetched"] == len(alerts), run[name]
        written = list((tmp_path / name).glob("*/*"))
        assert written and {oct(path.stat().st_mode & 0o777) for path in written} == {"0o600"}, name
        assert {oct(path.stat().st_mode & 0o777) for path in (tmp_path / name).glob("*")} == {"0o700"}, name
    assert run["bad"]["failed"] and "symbolic such as 'u=rw,g=r,o='" in run["bad"]["msg"]
    assert not (tmp_path / "bad").exists()


def test_check_mode_returns_the_shape_and_failures_of_a_real_run(tmp_path, scs):
    alerts = shared_flow_alerts(scs) + no_capture(scs.alerts()[0], 1)
    broken = [alerts[0], {"_id": "noFlowId1", "host": alerts[0]["host"]}]  # an alert without flow_id cannot be used
    tasks = [
        {"name": name, "register": name, "check_mode": check, "stamus.scs.alert_pcap": {
            "alerts": given, "dest": str(tmp_path / "evidence" / kind), "results": "all"}}
        for name, kind, check, given in (("good_check", "good", True, alerts), ("good_real", "good", False, alerts),
                                         ("broken_check", "broken", True, broken), ("broken_real", "broken", False, broken))]
    run = run_tasks(tmp_path, scs.env(), tasks)
    check, real = run["good_check"], run["good_real"]
    assert not check.get("failed") and not real.get("failed"), (check, real)
    assert set(check) == set(real)
    assert set(check["summary"]) == set(real["summary"]) and set(check["source"]) == set(real["source"])
    assert {frozenset(entry) for entry in check["results"]} == {frozenset(entry) for entry in real["results"]}
    assert check["source"]["scs_url"] == real["source"]["scs_url"] and check["source"]["scs_version"] is None
    assert check["summary"]["fetch"] == real["summary"]["fetched"] and real["summary"]["fetch"] == 0
    outcomes = {(entry["alert_id"], {"fetch": "fetched"}.get(entry["outcome"], entry["outcome"]))
                for entry in check["results"]}
    assert outcomes == {(entry["alert_id"], entry["outcome"]) for entry in real["results"]}
    # what check mode can tell fails it as it fails the real run
    assert run["broken_check"]["failed"] and run["broken_real"]["failed"]
    assert run["broken_check"]["failure"] == run["broken_real"]["failure"] and "no valid flow_id" in run["broken_real"]["failure"]
