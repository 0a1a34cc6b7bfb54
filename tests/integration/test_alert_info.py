"""stamus.scs.alert_info against the emulator, as real playbooks over HTTPS (and once over plain HTTP)."""

import requests

from runner import TOKEN_MARKER, Emulator, run_tasks

ALERTS_PATH = "/rest/rules/es/alerts_tail/"


def server_alerts(emulator, **params):
    """The emulator's own answer in one page: the reference the module must reproduce."""
    params.setdefault("page_size", 10000)
    response = requests.get(emulator.url + ALERTS_PATH, params=params, headers={"Authorization": "Token " + emulator.token},
                            verify=emulator.ca_path or True, timeout=60)
    response.raise_for_status()
    return response.json()["results"]


def alert_gets(emulator):
    return [entry for entry in emulator.requests() if entry["path"] == ALERTS_PATH and entry["method"] == "GET"]


def test_pages_through_250_alerts_with_page_size_30(tmp_path, clean_scs):
    run = run_tasks(tmp_path, clean_scs.env(), [
        {"name": "All alerts", "stamus.scs.alert_info": {"page_size": 30}, "register": "all"},
    ], verbosity=3)
    assert run.rc == 0, run.stdout
    result = run["all"]
    assert result["count"] == 250 and result["total"] == 250 and not result.get("failed")
    assert len(alert_gets(clean_scs)) == 9  # ceil(250 / 30)
    reference = server_alerts(clean_scs)
    assert [alert["_id"] for alert in result["alerts"]] == [alert["_id"] for alert in reference]
    assert all(alert["_id"] and alert["host"] for alert in result["alerts"])
    assert TOKEN_MARKER not in run.stdout + run.stderr


def test_filters_match_the_servers_own_selection(tmp_path, clean_scs):
    sample = server_alerts(clean_scs)[17]
    probe = sample["host"]
    run = run_tasks(tmp_path, clean_scs.env(), [
        {"name": "By signature and flow", "stamus.scs.alert_info": {
            "signature_id": sample["alert"]["signature_id"], "flow_id": sample["flow_id"]}, "register": "vendor"},
        {"name": "By probe and severity, last day", "stamus.scs.alert_info": {
            "probe": probe, "qfilter": "alert.severity:1", "since": "30d", "query": "[].host"}, "register": "probe"},
    ])
    assert run.rc == 0, run.stdout
    vendor = run["vendor"]["alerts"]
    assert sample["_id"] in [alert["_id"] for alert in vendor]
    assert all(a["flow_id"] == sample["flow_id"] and a["alert"]["signature_id"] == sample["alert"]["signature_id"] for a in vendor)
    expected = server_alerts(clean_scs, qfilter='host:"%s" AND alert.severity:1' % probe)
    assert [a["_id"] for a in run["probe"]["alerts"]] == [a["_id"] for a in expected] and expected
    assert set(run["probe"]["query_result"]) == {probe}


def test_module_defaults_group_and_check_mode(tmp_path, clean_scs):
    env = clean_scs.env()
    connection = {"scs_url": env.pop("SCS_URL"), "scs_token": env.pop("SCS_TOKEN"), "ca_path": env.pop("SCS_CA_PATH")}
    run = run_tasks(tmp_path, env, [
        {"name": "Newest alert", "stamus.scs.alert_info": {"limit": 1}, "register": "newest"},
    ], check=True, play_extra={"module_defaults": {"group/stamus.scs.scs": connection}})
    assert run.rc == 0, run.stdout
    assert run["newest"]["count"] == 1 and run["newest"]["truncated"] is True


def test_refused_token_says_so_and_never_shows_it(tmp_path, clean_scs):
    wrong = "tok-WRONG-91b7e3aa"
    run = run_tasks(tmp_path, dict(clean_scs.env(), SCS_TOKEN=wrong), [
        {"name": "With a wrong token", "stamus.scs.alert_info": {"signature_id": 1}, "register": "denied"},
    ], verbosity=3)
    result = run["denied"]
    assert result["failed"] is True and "SCS refused the API token" in result["msg"] and "SCS_TOKEN" in result["msg"]
    assert result["http_status"] == 403
    assert wrong not in run.stdout + run.stderr + str(run.results)


def test_two_503s_are_retried_and_persistent_503_fails_clearly(tmp_path, clean_scs):
    clean_scs.inject_fault(method="GET", path=ALERTS_PATH, kind="status", status=503, count=2)
    run = run_tasks(tmp_path, clean_scs.env(), [
        {"name": "Through two 503s", "stamus.scs.alert_info": {"limit": 5}, "register": "survived"},
    ])
    assert run["survived"]["count"] == 5 and not run["survived"].get("failed")
    assert [entry["status"] for entry in alert_gets(clean_scs)] == [503, 503, 200]

    clean_scs.clear_requests()
    clean_scs.inject_fault(method="GET", path=ALERTS_PATH, kind="status", status=503, count=-1)
    run = run_tasks(tmp_path, clean_scs.env(), [
        {"name": "Against a dead backend", "stamus.scs.alert_info": {"limit": 5, "retries": 2}, "register": "dead"},
    ])
    result = run["dead"]
    assert result["failed"] is True and "HTTP 503" in result["msg"] and "after 3 attempts" in result["msg"]
    assert len(alert_gets(clean_scs)) == 3


def test_bad_input_fails_before_any_request(tmp_path, clean_scs):
    run = run_tasks(tmp_path, clean_scs.env(), [
        {"name": "Negative flow id", "stamus.scs.alert_info": {"flow_id": -1}, "register": "negative"},
        {"name": "Injection through an integer", "stamus.scs.alert_info": {"signature_id": "1 OR *:*"}, "register": "inject"},
        {"name": "Reversed window", "stamus.scs.alert_info": {"from": "2026-05-02T10:00:00Z", "to": "2026-05-01T10:00:00Z"},
         "register": "reversed"},
    ])
    assert "flow_id must be a whole number" in run["negative"]["msg"]
    assert "signature_id" in run["inject"]["msg"] and run["inject"]["failed"]
    assert "reversed" in run["reversed"]["msg"]
    assert alert_gets(clean_scs) == []


def test_window_of_10000_stops_with_a_clear_message(tmp_path):
    with Emulator(tls=True, seed=11, probes=2, templates=1, alerts=10200, flows=300, pcap="none") as big:
        run = run_tasks(tmp_path, big.env(), [
            {"name": "Everything, 1000 per page", "stamus.scs.alert_info": {"page_size": 1000}, "register": "too_many"},
            {"name": "The first 10000", "stamus.scs.alert_info": {"page_size": 1000, "limit": 10000}, "register": "capped"},
        ])
        too_many = run["too_many"]
        assert too_many["failed"] is True
        assert "can only page through the first 10000" in too_many["msg"] and "Narrow the query" in too_many["msg"]
        assert run["capped"]["count"] == 10000 and run["capped"]["truncated"] is True
        pages = [entry for entry in big.requests() if entry["path"] == ALERTS_PATH]
        assert len(pages) == 20 and all(entry["status"] == 200 for entry in pages)


def test_plain_http_works_and_warns(tmp_path):
    with Emulator(tls=False, seed=3, probes=1, templates=1, alerts=12, flows=6) as plain:
        run = run_tasks(tmp_path, plain.env(), [
            {"name": "Over HTTP", "stamus.scs.alert_info": {}, "register": "plain"},
        ])
    assert run["plain"]["count"] == 12
    assert any("http://" in warning for warning in run["plain"]["warnings"])
