import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.stamus.scs.plugins.modules import alert_info

TOKEN = "unit-marker-4c1e9f"
ALERTS = "/rest/rules/es/alerts_tail/"


def run(capsys, **args):
    args.setdefault("scs_url", "https://scs.example.net")
    args.setdefault("scs_token", TOKEN)
    with patch_module_args(args), pytest.raises(SystemExit) as info:
        alert_info.main()
    out = capsys.readouterr().out
    assert TOKEN not in out
    return info.value.code, json.loads(out)


def page(results, count=None):
    return {"count": len(results) if count is None else count, "next": None, "previous": None, "results": results}


def test_returns_alerts_with_counts_and_query(fake_server, capsys):
    alerts = [{"_id": "a%d" % i, "host": "probe-01", "flow_id": i} for i in range(3)]
    fake_server.add("GET", ALERTS, json=page(alerts))
    code, result = run(capsys, signature_id=2029743, query="[].flow_id")
    assert code == 0 and result["changed"] is False
    assert result["count"] == 3 and result["total"] == 3 and result["truncated"] is False
    assert result["alerts"] == alerts and result["query_result"] == [0, 1, 2]
    assert "qfilter=alert.signature_id%3A2029743" in fake_server.calls[0].url


def test_raw_es_hits_are_unwrapped(fake_server, capsys):
    fake_server.add("GET", ALERTS, json=page([{"_id": "a1", "_source": {"host": "probe-02"}}]))
    code, result = run(capsys)
    assert code == 0 and result["alerts"] == [{"_id": "a1", "host": "probe-02"}]


def test_limit_reports_truncation(fake_server, capsys):
    fake_server.add("GET", ALERTS, json={"count": 50, "next": "https://scs/x?page=2", "results": [{"_id": "a"}] * 10})
    code, result = run(capsys, limit=5, page_size=10)
    assert code == 0 and result["count"] == 5 and result["truncated"] is True


def test_refused_token_fails_with_a_clear_message(fake_server, capsys):
    fake_server.add("GET", ALERTS, status=403, json={"detail": "Invalid token."})
    code, result = run(capsys, signature_id=1)
    assert code == 1 and result["failed"] is True
    assert "refused the API token" in result["msg"]
    assert result["error_type"] == "ScsAuthenticationError" and result["http_status"] == 403


def test_bad_input_fails_before_any_call(fake_server, capsys):
    code, result = run(capsys, flow_id=-3)
    assert code == 1 and "flow_id must be a whole number" in result["msg"]
    code, result = run(capsys, query="[?", signature_id=1)
    assert code == 1 and "not a valid JMESPath expression" in result["msg"]
    code, result = run(capsys, since="next week")
    assert code == 1 and "since must be a positive duration" in result["msg"]
    assert fake_server.calls == []


def test_since_and_from_are_exclusive(fake_server, capsys):
    code, result = run(capsys, since="1h", **{"from": "2026-01-01T00:00:00Z"})
    assert code == 1 and "mutually exclusive" in result["msg"] and fake_server.calls == []


def test_connection_options_come_from_the_environment(fake_server, capsys, monkeypatch):
    monkeypatch.setenv("SCS_URL", "https://env-scs.example.net/rest/")
    monkeypatch.setenv("SCS_TOKEN", TOKEN)
    fake_server.add("GET", ALERTS, json=page([]))
    with patch_module_args({}), pytest.raises(SystemExit) as info:
        alert_info.main()
    assert info.value.code == 0
    assert fake_server.calls[0].url.startswith("https://env-scs.example.net/rest/rules/es/alerts_tail/")
    assert fake_server.calls[0].headers["Authorization"] == "Token " + TOKEN
