import json
import logging
import os
import stat

import pytest
import requests

from ansible_collections.stamus.scs.plugins.module_utils._alert_poller import AlertPoller
from ansible_collections.stamus.scs.plugins.module_utils._alert_source import (
    AlertSource,
    backoff_delay,
    source_settings,
)
from ansible_collections.stamus.scs.plugins.module_utils._alerts import parse_time
from ansible_collections.stamus.scs.plugins.module_utils import _errors as errors

from fake_alerts import T0, FakeAlertsClient, iso

TOKEN = "tok-eda-unit-2b7e1f0c"
LOG = logging.getLogger("stamus.scs.alerts")


def source(scs, prime=False, **kwargs):
    poller = AlertPoller(scs, start_ms=T0, page_size=kwargs.pop("page_size", 100), window=scs.window)
    return AlertSource(scs, poller, interval=kwargs.pop("interval", 2.0), max_backoff=kwargs.pop("max_backoff", 10.0),
                       prime=prime, **kwargs)


def test_events_wrap_each_alert_and_the_next_step_waits_one_interval():
    scs = FakeAlertsClient()
    alerts = scs.add(2, at=T0 + 1)
    assert source(scs).step() == ([{"stamus_alert": alerts[0]}, {"stamus_alert": alerts[1]}], 2.0)


def test_events_carry_a_safe_reference_of_checked_scalars():
    scs = FakeAlertsClient()
    [alert] = scs.add(1, at=T0 + 1, host="probe-01.dmz@site+2", flow_id=2 ** 64 - 1)
    alert["_id"] = "Xk3aQ4kB-WK2k_efhuEoN"
    [event], _delay = source(scs).step()
    assert event == {"stamus_alert": alert,
                     "stamus_ref": {"alert_id": alert["_id"], "probe": "probe-01.dmz@site+2", "flow_id": 2 ** 64 - 1}}


@pytest.mark.parametrize("field, value", [
    ("_id", "{{ lookup('ansible.builtin.pipe', 'id') }}"), ("_id", "a" * 251), ("_id", "abc\n"), ("_id", "a.b"),
    ("host", "{{ x }}"), ("host", "{% set y = 1 %}"), ("host", ".hidden"), ("host", "probe-01\n"), ("host", "a/b"),
    ("host", "p" * 256), ("host", None), ("host", 7),
    ("flow_id", -1), ("flow_id", 2 ** 64), ("flow_id", "12"), ("flow_id", True), ("flow_id", 1.5), ("flow_id", None),
])
def test_an_alert_without_a_safe_reference_is_emitted_without_one_and_logged_quoted(field, value, caplog):
    scs = FakeAlertsClient()
    [alert] = scs.add(1, at=T0 + 1, host="probe-01", flow_id=5)
    good_id = alert["_id"]
    alert[field] = value
    if field == "_id":
        scs.docs[0] = alert  # the poller keys on _id: keep the doc the same object
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        events, _delay = source(scs).step()
    assert events == [{"stamus_alert": alert}]
    [record] = [record for record in caplog.records if "has no safe reference" in record.getMessage()]
    message = record.getMessage()
    assert repr(value)[:40] in message and "\n" not in message  # quoted: a newline shows as \\n
    assert (good_id if field != "_id" else repr(value)[:40]) in message


def test_priming_reads_the_alerts_already_on_scs_without_emitting_them():
    scs = FakeAlertsClient(window=4)
    scs.add(3, at=T0 + 1)
    scs.add(3, at=T0 + 2)
    src = source(scs, prime=True, page_size=2)
    assert src.step() == ([], 0)  # a full window: read on at once
    assert src.step() == ([], 2.0)
    new = scs.add(1, at=T0 + 3)
    events, delay = [], 0
    while not delay:  # the overlap alone holds more than the window: several reads, nothing emitted twice
        batch, delay = src.step()
        events += batch
    assert events == [{"stamus_alert": new[0]}] and delay == 2.0


@pytest.mark.parametrize("error", [errors.ScsAuthenticationError("HTTP 403 (Invalid token.)"),
                                   errors.ScsPermissionError("HTTP 403"), errors.ScsValidationError("HTTP 400"),
                                   errors.ScsNotFoundError("HTTP 404"), errors.ScsProtocolError("not JSON")])
def test_errors_retrying_cannot_fix_stop_the_source_at_the_start(error):
    scs = FakeAlertsClient()
    scs.failures.append(error)
    with pytest.raises(type(error)):
        source(scs).step()


def test_other_errors_back_off_exponentially_to_the_cap_and_never_stop(caplog):
    scs = FakeAlertsClient()
    scs.failures += [errors.ScsServerError("HTTP 503"), errors.ScsTransportError("timed out")] * 3
    src = source(scs)
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        delays = [src.step()[1] for _attempt in range(6)]
    assert delays == [2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert "Polling SCS failed (ScsServerError: HTTP 503); attempt 1, next in 2s." in caplog.text
    alert = scs.add(1, at=T0 + 1)
    assert src.step() == ([{"stamus_alert": alert[0]}], 2.0) and src.failures == 0
    # once started, a refused token is waited out too (a token being rotated), loudly
    scs.failures.append(errors.ScsAuthenticationError("HTTP 403 (Invalid token.)"))
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        assert src.step() == ([], 2.0)
    assert "ScsAuthenticationError" in caplog.records[-1].getMessage()


def test_unexpected_exceptions_are_logged_without_the_token(caplog):
    class Scrubbing(FakeAlertsClient):
        @staticmethod
        def scrub(text):
            return str(text).replace(TOKEN, "********")

    scs = Scrubbing()
    scs.failures.append(RuntimeError("boom near Token %s" % TOKEN))
    with caplog.at_level(logging.DEBUG):
        src = source(scs)
        src.started = True
        assert src.step() == ([], 2.0)
    assert "RuntimeError: boom near Token ********" in caplog.text and TOKEN not in caplog.text


def test_backoff_delay():
    assert [backoff_delay(n, 15, 300) for n in (1, 2, 3, 5, 6, 1000)] == [15, 30, 60, 240, 300, 300]


def test_settings_fall_back_to_the_modules_environment_variables(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    env = {"SCS_URL": "https://scs.example.net", "SCS_TOKEN": TOKEN, "SCS_VALIDATE_CERTS": "no", "SCS_CA_PATH": str(ca)}
    settings = source_settings({"interval": "5", "tenant": 2}, env)
    assert settings["scs_url"] == "https://scs.example.net" and settings["scs_token"] == TOKEN
    assert settings["validate_certs"] is False and settings["ca_path"] == str(ca)
    assert settings["interval"] == 5.0 and settings["tenant"] == 2 and settings["timeout"] == 120 and settings["retries"] == 3
    assert settings["overlap"] == 60 and settings["page_size"] == 100 and settings["since"] is None
    assert source_settings({"scs_url": "https://other", "scs_token": "t2"}, env)["scs_url"] == "https://other"


@pytest.mark.parametrize("args, message", [
    ({"scs_tokn": TOKEN}, "does not know the option(s) scs_tokn; its options are: ca_path,"),
    ({"interval": 0}, "interval must be a positive number of seconds"),
    ({"interval": "soon"}, "stamus.scs.alerts options: argument 'interval' is of type str and we were unable to convert "
                           "to float"),
    ({"validate_certs": "maybe"}, "argument 'validate_certs' is of type str and we were unable to convert to bool"),
    ({"severity": "1,high"}, "Elements value for option 'severity' is of type str and we were unable to convert to int"),
    ({"event_kinds": ["alert"]}, "value of event_kinds must be one or more of: alerts, doc, sightings"),
    ({"max_seen": 0}, "max_seen must be 1 or more"),
    ({"interval": "nan"}, "interval must be a number of seconds (got 'nan')"),
    ({"max_backoff": "inf"}, "max_backoff must be a number of seconds (got 'inf')"),
    ({"ca_path": "/nonexistent/ca.pem"}, "ca_path /nonexistent/ca.pem does not exist"),
    ({"state_file": "/nonexistent/dir/state.json"}, "its directory does not exist or is not writable"),
])
def test_bad_settings_name_the_fix(args, message):
    args = dict({"scs_url": "https://scs.example.net", "scs_token": TOKEN}, **args)
    with pytest.raises(errors.ScsConfigError) as info:
        source_settings(args, {})
    assert message in str(info.value) and TOKEN not in str(info.value)


def test_missing_url_or_token_fails_at_start():
    fix = "Set scs_url and scs_token in the source's arguments, or the SCS_URL and SCS_TOKEN environment variables."
    with pytest.raises(errors.ScsConfigError) as info:
        AlertSource.from_args({}, environ={"SCS_TOKEN": TOKEN, "SCS_URL": ""})
    assert str(info.value) == "No SCS connection: scs_url is not set. " + fix
    with pytest.raises(errors.ScsConfigError) as info:
        AlertSource.from_args({"scs_token": None}, environ={"SCS_URL": "https://scs.example.net"})
    assert str(info.value) == "No SCS connection: scs_token is not set. " + fix


def test_lists_take_comma_separated_strings_numbers_and_lists():
    base = {"scs_url": "https://scs.example.net", "scs_token": TOKEN}
    assert source_settings(dict(base, severity=1, signature_ids="2029743, 2035465", probes="p1,p2"), {})["severity"] == [1]
    settings = source_settings(dict(base, signature_ids="2029743, 2035465", probes=["p1"], event_kinds="alerts,doc"), {})
    assert settings["signature_ids"] == [2029743, 2035465] and settings["probes"] == ["p1"]
    assert settings["event_kinds"] == ["alerts", "doc"]


def test_state_file_is_written_atomically_and_continues_after_a_restart(tmp_path, fake_server, caplog):
    state_file = tmp_path / "state.json"
    docs = [{"_id": "s%d" % i, "@timestamp": "2026-05-02T10:00:0%d.000Z" % i} for i in range(3)]
    fake_server.add("GET", "/rest/rules/es/alerts_tail/", json={"count": 3, "next": None, "results": docs})
    args = {"scs_url": "https://scs.example.net", "scs_token": TOKEN, "since": "30d", "state_file": str(state_file)}
    with caplog.at_level(logging.INFO, logger=LOG.name):
        first = AlertSource.from_args(args, environ={}, now=lambda: T0 / 1000 + 60)
        events, _delay = first.step()
        assert [event["stamus_alert"]["_id"] for event in events] == ["s0", "s1", "s2"]
        assert not state_file.exists()  # written only once the events are queued
        first.commit()
        assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600 and os.listdir(tmp_path) == ["state.json"]
        assert json.loads(state_file.read_text())["hwm"] == T0 + 2000
        second = AlertSource.from_args(args, environ={}, now=lambda: T0 / 1000 + 3600)
        assert second.step()[0] == []
    assert "continuing from the state in %s" % state_file in caplog.text
    assert TOKEN not in caplog.text and TOKEN not in state_file.read_text()
    assert "from_date=%d" % (T0 - 30 * 86400 * 1000 + 60000) in fake_server.calls[0].url


def test_corrupt_state_file_fails_at_start_with_the_fix(tmp_path):
    state_file = tmp_path / "state.json"
    state_file.write_text("{not json")
    with pytest.raises(errors.ScsConfigError, match="state.json is unreadable .*delete it to start over"):
        AlertSource.from_args({"state_file": str(state_file)},
                              environ={"SCS_URL": "https://scs.example.net", "SCS_TOKEN": TOKEN})


def alerts_tail_from(docs):
    """A fake alerts_tail handler answering the docs (or junk) at or after ``from_date``, oldest first."""

    def handler(request):
        from_ms = int(requests.utils.urlparse(request.url).query.split("from_date=")[1].split("&")[0])
        picked = [doc for doc in docs if not isinstance(doc, dict) or parse_time("t", doc["@timestamp"]) >= from_ms]
        body = {"count": len(picked), "next": None, "results": picked}
        return 200, json.dumps(body).encode(), {"Content-Type": "application/json"}
    return handler


def test_a_null_result_is_skipped_and_the_source_goes_on(fake_server, caplog):
    docs = [None, {"_id": "s0", "@timestamp": iso(T0)}]
    fake_server.add("GET", "/rest/rules/es/alerts_tail/", handler=alerts_tail_from(docs))
    args = {"scs_url": "https://scs.example.net", "scs_token": TOKEN, "since": "1h"}
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        src = AlertSource.from_args(args, environ={}, now=lambda: T0 / 1000 + 60)
        assert src.step() == ([{"stamus_alert": docs[1]}], 15.0)
        assert src.step() == ([], 15.0) and src.failures == 0
    assert "Skipped a result that is not an alert object (NoneType): None" in caplog.text


def test_an_alert_dated_2100_is_emitted_once_and_later_alerts_still_are(tmp_path, fake_server, caplog):
    """The mark kept in state_file is the newest alert that is not future-dated, not 2100."""
    state_file = tmp_path / "state.json"
    bogus = {"_id": "bogus", "@timestamp": "2100-01-01T00:00:00.000Z", "host": "probe-01"}
    docs = [{"_id": "s0", "@timestamp": iso(T0)}, bogus]
    fake_server.add("GET", "/rest/rules/es/alerts_tail/", handler=alerts_tail_from(docs))
    args = {"scs_url": "https://scs.example.net", "scs_token": TOKEN, "since": "1h", "state_file": str(state_file)}
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        first = AlertSource.from_args(args, environ={}, now=lambda: T0 / 1000 + 60)
        assert [event["stamus_alert"]["_id"] for event in first.step()[0]] == ["s0", "bogus"]
        first.commit()
    assert json.loads(state_file.read_text())["hwm"] == T0
    assert "'bogus' on probe 'probe-01' dated '2100-01-01T00:00:00.000Z'" in caplog.text
    docs.insert(1, {"_id": "s1", "@timestamp": iso(T0 + 3590000)})
    second = AlertSource.from_args(args, environ={}, now=lambda: T0 / 1000 + 3600)
    assert [event["stamus_alert"]["_id"] for event in second.step()[0]] == ["s1"]
    assert second.step()[0] == []


@pytest.mark.parametrize("value, message", [(-1, "max_clock_skew must be a positive number of seconds"),
                                            ("nan", "max_clock_skew must be a number"),
                                            ("inf", "max_clock_skew must be a number")])
def test_max_clock_skew_is_checked(value, message):
    with pytest.raises(errors.ScsConfigError, match=message):
        source_settings({"scs_url": "https://scs.example.net", "scs_token": TOKEN, "max_clock_skew": value}, {})
