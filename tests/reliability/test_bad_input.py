"""Bad input given to real ansible-playbook tasks: every case fails with a message that names the fix, before any call
to SCS when the input can be judged locally, without a traceback and without writing anything where it must not."""

import collections
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # inputkit, under --import-mode=importlib

from inputkit import CaseBatch, data_requests, files_under, has_traceback, query_of, result_has_traceback  # noqa: E402
from runner import TOKEN_MARKER, Emulator, run_tasks  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Bad input"
NO_ROTATION = ("--pcap-total-size", "100000000")
WRITES = ("PATCH", "POST", "PUT", "DELETE")


@pytest.fixture(scope="module")
def emu():
    """3 probes, all capturing, nothing rotated."""
    with Emulator(tls=True, seed=61, probes=3, templates=2, alerts=40, flows=25, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emulator:
        yield emulator


def one_alert_per_probe(emulator):
    alerts = [alert for alert in emulator.alerts() if alert.get("capture_file")]
    per_flow = collections.Counter((alert["host"], alert["flow_id"]) for alert in alerts)
    chosen = {}
    for alert in alerts:
        if per_flow[(alert["host"], alert["flow_id"])] == 1:
            chosen.setdefault(alert["host"], alert)
    return [chosen[name] for name in sorted(chosen)]


def without(alert, key):
    return {name: value for name, value in alert.items() if name != key}


class Case:
    """One bad input: the task, the words its message must contain, and whether it can be refused locally."""

    def __init__(self, key, scenario, module, args, words, local=True, outcome="clear error", extra=None):
        self.key, self.scenario, self.module, self.args = key, scenario, module, args
        self.words, self.local, self.outcome, self.extra = words, local, outcome, extra or {}


def build_cases(alerts, paths):
    good = alerts[0]
    bad_alerts = {
        "no _id": without(good, "_id"),
        "no host": without(alerts[1], "host"),
        "_id with /": dict(good, _id="abc/def"),
        "_id ..": dict(good, _id=".."),
        "_id ../../etc/passwd": dict(good, _id="../../etc/passwd"),
    }
    return [
        # ids: Ansible's own type check for non-integers, the collection's range check for negatives
        Case("sig_not_int", "signature_id not an integer", "stamus.scs.alert_info", {"signature_id": "20297x43"},
             ["signature_id", "int"]),
        Case("sig_negative", "signature_id negative", "stamus.scs.alert_info", {"signature_id": -5},
             ["signature_id", "whole number between 0"]),
        Case("flow_not_int", "flow_id not an integer", "stamus.scs.alert_pcap",
             {"flow_id": "12ab", "dest": paths["scratch"]}, ["flow_id", "int"]),
        Case("flow_negative", "flow_id negative", "stamus.scs.alert_pcap", {"flow_id": -1, "dest": paths["scratch"]},
             ["flow_id", "whole number between 0"]),
        # qfilter injection: a qfilter that closes the parentheses it is put in would turn probe into an alternative
        Case("qf_paren", "qfilter injection `x) OR (*`", "stamus.scs.alert_info", {"probe": "probe-01", "qfilter": "x) OR (*"},
             ["qfilter", "unbalanced", "balance them"]),
        Case("qf_quote", "qfilter with an unbalanced quote", "stamus.scs.alert_info",
             {"probe": "probe-01", "qfilter": 'alert.signature:"ET MALWARE'}, ["qfilter", "unbalanced", "quote"]),
        Case("qf_paren_pcap", "qfilter injection `x) OR (*`", "stamus.scs.alert_pcap",
             {"probe": "probe-01", "qfilter": "x) OR (*", "dest": paths["scratch"]}, ["qfilter", "unbalanced"]),
        # alerts the chain cannot use
        Case("upload_no_id", "alert without _id", "stamus.scs.pcap_upload", {"alert": bad_alerts["no _id"]},
             ["no _id", "stamus.scs.alert_info"]),
        Case("upload_no_host", "alert without host", "stamus.scs.pcap_upload", {"alert": bad_alerts["no host"]},
             ["no host", "set probe"]),
        Case("upload_id_slash", "alert _id with /", "stamus.scs.pcap_upload", {"alert": bad_alerts["_id with /"]},
             ["_id", "[0-9A-Za-z_-]+", "abc/def"]),
        Case("upload_id_dots", "alert _id `..`", "stamus.scs.pcap_upload", {"alert": bad_alerts["_id .."]},
             ["_id", "[0-9A-Za-z_-]+"]),
        # dest: symbolic links and dest_root
        Case("pcap_dest_symlink", "dest is a symbolic link", "stamus.scs.alert_pcap",
             {"alerts": [good], "dest": paths["link"]}, ["symbolic link", "real location"]),
        Case("dl_dest_symlink", "dest is a symbolic link (directory)", "stamus.scs.pcap_download",
             {"filename": good["_id"], "dest": paths["link"]}, ["symbolic link", "real location"]),
        Case("dl_file_symlink", "dest file is a dangling symbolic link", "stamus.scs.pcap_download",
             {"filename": good["_id"], "dest": paths["file_link"], "force": True}, ["symbolic link"]),
        Case("pcap_outside_root", "dest outside dest_root", "stamus.scs.alert_pcap",
             {"alerts": [good], "dest": paths["elsewhere"], "dest_root": paths["root"]}, ["outside", "dest_root"]),
        Case("pcap_dotdot_root", "dest escaping dest_root with ..", "stamus.scs.alert_pcap",
             {"alerts": [good], "dest": os.path.join(paths["root"], "..", "elsewhere"), "dest_root": paths["root"]},
             ["outside", "dest_root"]),
        Case("pcap_env_root", "dest outside SCS_EVIDENCE_ROOT", "stamus.scs.alert_pcap",
             {"alerts": [good], "dest": paths["elsewhere"]}, ["outside", "dest_root"],
             extra={"environment": {"SCS_EVIDENCE_ROOT": paths["root"]}}),
        Case("dl_outside_root", "dest outside dest_root", "stamus.scs.pcap_download",
             {"filename": good["_id"], "dest": paths["elsewhere"], "dest_root": paths["root"]}, ["outside", "dest_root"]),
        # names SCS does not know
        Case("pcap_unknown_probe", "alert whose host is an unknown probe", "stamus.scs.alert_pcap",
             {"alerts": [dict(good, host="probe-1")], "dest": paths["scratch"]}, ["probe-1", "Unknown probe"], local=False),
        Case("cp_unknown_template", "unknown template name", "stamus.scs.conditional_pcap", {"templates": ["perimiter"]},
             ["Unknown template", "perimiter", "did you mean perimeter"], local=False),
        Case("cp_unknown_probe", "unknown probe name", "stamus.scs.conditional_pcap", {"probes": ["probe-1"]},
             ["Unknown probe", "probe-1", "did you mean", "probe-01"], local=False),
        # time windows
        Case("window_future", "time window in the future", "stamus.scs.alert_info", {"from": "2099-01-01T00:00:00Z"},
             ["future", "from"]),
        Case("window_reversed", "time window reversed", "stamus.scs.alert_info",
             {"from": "2026-05-02T00:00:00Z", "to": "2026-05-01T00:00:00Z"}, ["reversed", "swap"]),
        Case("window_reversed_pcap", "time window reversed", "stamus.scs.alert_pcap",
             {"from": "2026-05-02T00:00:00Z", "to": "2026-05-01T00:00:00Z", "dest": paths["scratch"]}, ["reversed", "swap"]),
        Case("since_garbage", "since not a duration", "stamus.scs.alert_info", {"since": "yesterday"},
             ["since", "24h"]),
        # sizes and modes
        Case("page_size_big", "page_size over 10000", "stamus.scs.alert_info", {"page_size": 20000},
             ["page_size", "between 1 and 10000"]),
        Case("page_size_zero", "page_size 0", "stamus.scs.alert_info", {"page_size": 0}, ["page_size", "between 1"]),
        Case("mode_symbolic_pcap", "mode not octal", "stamus.scs.alert_pcap",
             {"alerts": [good], "dest": paths["scratch"], "mode": "rw-r-----"}, ["mode", "octal", "0640"]),
        Case("mode_bad_digit_pcap", "mode with a digit 9", "stamus.scs.alert_pcap",
             {"alerts": [good], "dest": paths["scratch"], "mode": "0999"}, ["mode", "octal"]),
        Case("mode_bad_dl", "mode with a digit 9", "stamus.scs.pcap_download",
             {"filename": "neverUploaded1", "dest": paths["scratch"], "mode": "0999"}, ["mode", "octal"]),
        Case("workers_zero", "workers 0", "stamus.scs.alert_pcap", {"alerts": [good], "dest": paths["scratch"], "workers": 0},
             ["workers", "between 1 and 64"]),
        Case("workers_huge", "workers 1000", "stamus.scs.alert_pcap",
             {"alerts": [good], "dest": paths["scratch"], "workers": 1000}, ["workers", "between 1 and 64"]),
        # api_overrides
        Case("overrides_unknown_cp", "api_overrides with an unknown key", "stamus.scs.conditional_pcap",
             {"templates": ["perimeter"], "api_overrides": {"probe_pth": "appliances/probe/"}},
             ["api_overrides.probe_pth", "Supported parameters include", "probe_path"]),
        Case("overrides_unknown_info", "api_overrides with an unknown key", "stamus.scs.probe_info",
             {"api_overrides": {"pcap_feild": "conditional_pcap"}},
             ["api_overrides.pcap_feild", "Supported parameters include", "pcap_field"]),
        Case("overrides_exclusive", "api_overrides with apply_path and push_action", "stamus.scs.apply_changes",
             {"api_overrides": {"apply_path": "suricata/update_push_all/", "push_action": "push/"}},
             ["mutually exclusive", "apply_path|push_action", "api_overrides"]),
    ]


@pytest.fixture(scope="module")
def batch(emu, tmp_path_factory):
    """Every simple case in one ansible-playbook run, plus the cases with their own checks."""
    base = tmp_path_factory.mktemp("bad-input")
    paths = {name: str(base / name) for name in ("root", "elsewhere", "real", "outside", "scratch", "dl", "planted")}
    for name in ("root", "real", "outside", "dl", "planted"):
        os.makedirs(paths[name])
    paths["link"] = str(base / "link")
    os.symlink(paths["real"], paths["link"])
    paths["file_link"] = os.path.join(paths["dl"], "x.pcap")
    os.symlink(os.path.join(paths["outside"], "target.pcap"), paths["file_link"])
    os.symlink(paths["outside"], os.path.join(paths["planted"], "probe-01"))  # a probe directory planted as a link

    alerts = one_alert_per_probe(emu)
    assert [alert["host"] for alert in alerts] == ["probe-01", "probe-02", "probe-03"]
    cases = build_cases(alerts, paths)
    runner = CaseBatch(emu)
    for case in cases:
        runner.add(case.key, case.module, case.args, **case.extra)

    # alert_pcap with bad alerts next to one good one: a failed outcome per bad alert, with its reason
    good = alerts[2]
    bad = [without(alerts[0], "_id"), without(alerts[0], "host"), dict(alerts[0], _id="abc/def"), dict(alerts[0], _id=".."),
           dict(alerts[0], _id="../../etc/passwd")]
    runner.add("pcap_bad_alerts", "stamus.scs.alert_pcap", {"alerts": bad + [good], "dest": os.path.join(paths["root"], "mixed")})
    # a probe directory planted as a symbolic link pointing outside dest
    runner.add("pcap_planted_link", "stamus.scs.alert_pcap",
               {"alerts": [alerts[0], alerts[1]], "dest": paths["planted"], "fail_on": "none"})
    # Lucene metacharacters in a probe name: quoted, so they match nothing (no probe has that name)
    metachars = ['probe-01" OR host:"probe-02', "probe-01) OR (host:probe-02", "probe-0*", "probe-0?", "probe-01\\",
                 "probe-01 OR probe-02", "*"]
    for index, name in enumerate(metachars):
        runner.add("probe_meta_%d" % index, "stamus.scs.alert_info", {"probe": name, "since": "30d"})
    runner.add("probe_exact", "stamus.scs.alert_info", {"probe": "probe-01", "since": "30d"})
    runner.execute(base, verbosity=0)
    runner.cases = {case.key: case for case in cases}
    runner.paths = paths
    runner.alerts = alerts
    runner.metachars = metachars
    return runner


def assert_clean_failure(result, words):
    """Failed, with every word of the expected message, and no traceback."""
    assert result is not None, "the task did not run"
    assert result.get("failed") is True, result
    assert not result_has_traceback(result), result
    message = result.get("msg", "")
    missing = [word for word in words if word.lower() not in message.lower()]
    assert not missing, "message lacks %s: %s" % (missing, message)
    assert TOKEN_MARKER not in json.dumps(result)
    return message


CASE_KEYS = [
    "sig_not_int", "sig_negative", "flow_not_int", "flow_negative", "qf_paren", "qf_quote", "qf_paren_pcap",
    "upload_no_id", "upload_no_host", "upload_id_slash", "upload_id_dots", "pcap_dest_symlink", "dl_dest_symlink",
    "dl_file_symlink", "pcap_outside_root", "pcap_dotdot_root", "pcap_env_root", "dl_outside_root", "pcap_unknown_probe",
    "cp_unknown_template", "cp_unknown_probe", "window_future", "window_reversed", "window_reversed_pcap", "since_garbage",
    "page_size_big", "page_size_zero", "mode_symbolic_pcap", "mode_bad_digit_pcap", "mode_bad_dl",
    "workers_zero", "workers_huge", "overrides_unknown_cp", "overrides_unknown_info", "overrides_exclusive",
]


@pytest.mark.parametrize("key", CASE_KEYS)
def test_bad_input_fails_clearly(batch, ledger, key):
    case = batch.cases[key]
    message = assert_clean_failure(batch[key], case.words)
    sent = batch.requests_of(key)
    if case.local:
        assert data_requests(sent) == [], "decidable locally, yet SCS was called: %s" % [e["path"] for e in sent]
    assert not [entry for entry in sent if entry["method"] in WRITES and "/appliances/" in entry["path"]]
    # nothing written where the case pointed
    for name in ("real", "outside", "elsewhere", "dl"):
        leftovers = [f for f in files_under(batch.paths[name]) if f != "x.pcap"]
        assert leftovers == [], (name, leftovers)
    ledger.checked("no traceback")
    ledger.checked("no token leak")
    ledger.checked("no partial file")
    where = case.module.split(".")[-1] + ("" if case.local else " (after SCS answered)")
    ledger.record(CATEGORY, case.scenario, where, case.outcome, message[:220])


def test_bad_alerts_in_a_batch_each_fail_with_their_reason(batch, ledger):
    result = batch["pcap_bad_alerts"]
    assert result["failed"] and not result_has_traceback(result)
    assert "5 of 6 alert(s) could not be fetched" in result["msg"] and "fail_on=none" in result["msg"]
    outcomes = [entry["outcome"] for entry in result["results"]]
    assert sorted(outcomes) == ["failed"] * 5 + ["fetched"], outcomes
    reasons = [entry["message"] for entry in result["results"] if entry["outcome"] == "failed"]
    assert any("no _id" in reason for reason in reasons)
    assert any("no host field" in reason for reason in reasons)
    assert any("'abc/def'" in reason for reason in reasons)
    assert any("'..'" in reason for reason in reasons)
    assert any("'../../etc/passwd'" in reason for reason in reasons)
    uploads = [entry for entry in batch.requests_of("pcap_bad_alerts") if entry["path"].endswith("/upload/")]
    assert len(uploads) == 1 and query_of(uploads[0])["host"] == batch.alerts[2]["host"]
    assert not [e for e in batch.requests_of("pcap_bad_alerts") if ".." in e["path"] or "abc" in e["path"]]
    mixed = os.path.join(batch.paths["root"], "mixed")
    assert files_under(mixed) == sorted("%s/%d.%s" % (batch.alerts[2]["host"], batch.alerts[2]["flow_id"], kind)
                                        for kind in ("json", "pcap", "events.json"))
    assert files_under(batch.paths["root"]) == ["mixed/" + name for name in files_under(mixed)]
    ledger.checked("no traceback")
    ledger.checked("no partial file")
    for label in ("without _id", "without host", "_id with /", "_id `..`", "_id ../../etc/passwd"):
        ledger.record(CATEGORY, "alert %s, in a batch with a good one" % label, "alert_pcap", "clear error",
                      "per-alert outcome failed with the reason; the good alert fetched; no upload for the bad ones")


def test_planted_probe_directory_link_is_refused(batch, ledger):
    result = batch["pcap_planted_link"]
    assert not result.get("failed") and not result_has_traceback(result), result
    by_probe = {entry["probe"]: entry for entry in result["results"]}
    assert by_probe["probe-01"]["outcome"] == "failed", by_probe["probe-01"]
    assert "symbolic link" in by_probe["probe-01"]["message"], by_probe["probe-01"]
    assert by_probe["probe-02"]["outcome"] == "fetched"
    assert files_under(batch.paths["outside"]) == []
    uploads = [query_of(entry)["host"] for entry in batch.requests_of("pcap_planted_link") if entry["path"].endswith("/upload/")]
    assert uploads == ["probe-02"], uploads
    ledger.checked("no partial file")
    ledger.checked("no traceback")
    ledger.record(CATEGORY, "probe subdirectory planted as a symbolic link pointing outside dest", "alert_pcap", "clear error",
                  "%s; nothing written outside, no call for that flow; the other probe's flow fetched"
                  % by_probe["probe-01"]["message"][:160])


def test_lucene_metacharacters_in_a_probe_name_are_quoted(batch, ledger):
    exact = batch["probe_exact"]
    assert exact["count"] > 0 and {alert["host"] for alert in exact["alerts"]} == {"probe-01"}
    for index, name in enumerate(batch.metachars):
        key = "probe_meta_%d" % index
        result = batch[key]
        assert not result.get("failed"), result
        assert result["count"] == 0 and result["alerts"] == [], (name, [a["host"] for a in result["alerts"]][:5])
        [request] = [entry for entry in batch.requests_of(key) if entry["path"].endswith("/alerts_tail/")]
        quoted = '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')
        assert query_of(request)["qfilter"] == "host.keyword:%s" % quoted, query_of(request)
        ledger.checked("no traceback")
        ledger.record(CATEGORY, "Lucene metacharacters in probe name %s" % json.dumps(name), "alert_info", "survived",
                      "sent qfilter %s; 0 alerts, none of another probe" % query_of(request)["qfilter"])


def test_server_returned_filename_with_path_separators(emu, tmp_path, ledger):
    """SCS answering an upload with a filename that is a path: refused, nothing written, no further step."""
    alert = one_alert_per_probe(emu)[0]
    dest = tmp_path / "evidence"
    emu.clear_faults()
    emu.inject_fault(method="POST", path="/upload/$", kind="status", status=200, count=2,
                     body={"upload": "done", "filename": "../../../tmp/evil"})
    try:
        emu.clear_requests()
        run = run_tasks(tmp_path, emu.env(), [
            {"name": "Upload", "stamus.scs.pcap_upload": {"alert": alert}, "register": "upload"},
            {"name": "Chain", "stamus.scs.alert_pcap": {"alerts": [alert], "dest": str(dest)}, "register": "chain"},
        ])
    finally:
        emu.clear_faults()
    message = assert_clean_failure(run["upload"], ["unsafe", "../../../tmp/evil", "refusing"])
    chain = run["chain"]
    assert chain["failed"] and chain["results"][0]["outcome"] == "failed" and "unsafe" in chain["results"][0]["message"]
    paths = [entry["path"] for entry in emu.requests()]
    assert not [path for path in paths if "evil" in path or "extract_pcap" in path], paths
    assert not list(files_under(dest)) and not os.path.exists("/tmp/evil")
    assert not has_traceback(run.stdout, run.stderr)
    ledger.checked("no traceback", 2)
    ledger.checked("no partial file", 2)
    ledger.record(CATEGORY, "SCS returns an upload filename with path separators", "pcap_upload", "clear error", message[:200])
    ledger.record(CATEGORY, "SCS returns an upload filename with path separators", "alert_pcap", "clear error",
                  "per-alert failed outcome, no extract call, nothing written")


def test_plain_http_and_unverified_tls_work_but_warn(emu, tmp_path, ledger):
    with Emulator(tls=False, seed=62, probes=2, templates=1, alerts=10, flows=8, pcap="all", token=TOKEN_MARKER) as plain:
        assert plain.url.startswith("http://")
        run = run_tasks(tmp_path, plain.env(), [
            {"name": "Over http", "stamus.scs.alert_info": {"limit": 2}, "register": "http"},
        ])
    secure = run_tasks(tmp_path, emu.env(), [
        {"name": "Unverified", "stamus.scs.alert_info": {"limit": 2, "validate_certs": False, "ca_path": None},
         "register": "insecure"},
    ])
    http, insecure = run["http"], secure["insecure"]
    assert not http.get("failed") and http["count"] == 2, http
    assert any("http://" in warning and "https://" in warning for warning in http.get("warnings", [])), http
    assert "[WARNING]" in run.stdout + run.stderr and "unencrypted" in run.stdout + run.stderr
    assert not insecure.get("failed") and insecure["count"] == 2, insecure
    assert any("validate_certs is false" in w and "ca_path" in w for w in insecure.get("warnings", [])), insecure
    for proc in (run, secure):
        assert TOKEN_MARKER not in proc.stdout + proc.stderr and not has_traceback(proc.stdout, proc.stderr)
    ledger.checked("no token leak", 2)
    ledger.checked("no traceback", 2)
    ledger.record(CATEGORY, "scs_url with http://", "alert_info", "survived",
                  "worked against an HTTP emulator and warned: %s" % http["warnings"][0])
    ledger.record(CATEGORY, "validate_certs false", "alert_info", "survived",
                  "worked and warned: %s" % insecure["warnings"][0][:160])


def test_garbage_mode_is_refused_before_the_download(emu, tmp_path, ledger):
    emu.stage_pcap("stagedForMode", 5000)
    dest = tmp_path / "dl"
    dest.mkdir()
    emu.clear_requests()
    run = run_tasks(tmp_path, emu.env(), [
        {"name": "Garbage mode", "stamus.scs.pcap_download": {"filename": "stagedForMode", "dest": str(dest), "mode": "banana"},
         "register": "banana"},
    ])
    try:
        message = assert_clean_failure(run["banana"], ["mode", "banana"])
        assert data_requests(emu.requests()) == [], [entry["path"] for entry in emu.requests()]
        assert files_under(dest) == []
    finally:
        emu.rest("GET", "/rest/rules/filestore_pcap/stagedForMode/download/").close()  # drop it if still staged
    ledger.checked("no partial file")
    ledger.record(CATEGORY, "mode that is neither octal nor symbolic", "pcap_download", "clear error", message[:200])


def test_alert_pcap_query_options_combine(emu, tmp_path, ledger):
    """The control for the alert_pcap query cases: signature_id with flow_id (the module's own first example) and a
    window with from and to must be accepted; only alerts is exclusive with the query options."""
    alert = one_alert_per_probe(emu)[0]
    dest = tmp_path / "evidence"
    run = run_tasks(tmp_path, emu.env(), [
        {"name": "Vendor script", "register": "pair", "stamus.scs.alert_pcap": {
            "signature_id": alert["alert"]["signature_id"], "flow_id": alert["flow_id"], "dest": str(dest)}},
        {"name": "Window", "register": "window", "stamus.scs.alert_pcap": {
            "probe": alert["host"], "from": "0", "to": "4102444800", "limit": 1, "dest": str(dest)}},
    ])
    for name in ("pair", "window"):
        assert not run[name].get("failed"), run[name]
    assert run["pair"]["summary"]["fetched"] >= 1
    ledger.record(CATEGORY, "alert_pcap with several query options together (control)", "alert_pcap", "survived",
                  "signature_id + flow_id and probe + from + to accepted")


def test_no_traceback_anywhere_in_the_batch(batch, ledger):
    assert not has_traceback(batch.run.stdout, batch.run.stderr), batch.run.stdout[-3000:]
    assert TOKEN_MARKER not in batch.run.stdout + batch.run.stderr
    ledger.checked("no token leak")
