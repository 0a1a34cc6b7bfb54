import json
import re
from urllib.parse import parse_qs, urlparse

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


def test_alert_ids_are_read_in_batches_newest_first_with_not_found(fake_server, capsys):
    """120 ids: three requests (50, 50, 20 ids) over all of time; the results merged newest first, limit applied after,
    and the ids SCS did not return listed."""
    known = {"id%03d" % number: "2026-05-02T10:%02d:00.000Z" % (number % 60) for number in range(0, 120, 2)}

    def answer(request):
        query = parse_qs(urlparse(request.url).query)
        asked = re.findall(r'"([^"]+)"', query["qfilter"][0])
        assert query["from_date"] == ["0"] and len(asked) <= 50
        results = [{"_id": alert_id, "@timestamp": known[alert_id]} for alert_id in asked if alert_id in known]
        return 200, json.dumps(page(results)).encode(), {"Content-Type": "application/json"}

    fake_server.add("GET", ALERTS, handler=answer)
    ids = ["id%03d" % number for number in range(120)]
    code, result = run(capsys, alert_ids=ids, limit=100)
    assert code == 0 and len(fake_server.calls) == 3
    assert result["not_found"] == ids[1::2]
    assert result["total"] == 60 and result["count"] == 60 and result["truncated"] is False
    stamps = [alert["@timestamp"] for alert in result["alerts"]]
    assert stamps == sorted(stamps, reverse=True)
    code, result = run(capsys, alert_ids=ids, limit=10)
    assert result["count"] == 10 and result["truncated"] is True and len(result["not_found"]) == 60


def test_bad_alert_id_fails_before_any_call(fake_server, capsys):
    code, result = run(capsys, alert_ids=["ok", "{{ lookup('pipe', 'id') }}"])
    assert code == 1 and "alert_ids must be an SCS alert _id" in result["msg"] and not fake_server.calls
