"""Clean errors: options the client cannot use and text a server sends never turn into tracebacks, leaks or terminal
control sequences.

- a token with a line break, a control character or a character outside Latin-1, a timeout of nan or inf, retries or
  sizes out of range: refused up front with a message naming the option, without the token, before any request;
- a ca_path that does not exist or holds no PEM certificate: refused up front naming the file and the fix, never
  retried, no traceback even with ANSIBLE_DISPLAY_TRACEBACK=error (modules and the inventory plugin);
- ESC/OSC/BEL/C1 sequences in what SCS answers (a detail, a step error, field messages, an HTML page, an apply task's
  probe message) reach neither the terminal nor the messages of the results.
"""

import json
import os
import ssl
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # inputkit, under --import-mode=importlib

from faultkit import NO_ROTATION, excerpt, lone_alerts, stage_steps  # noqa: E402
from inputkit import CaseBatch, has_traceback, result_has_traceback  # noqa: E402
from runner import BIN, TOKEN_MARKER, Emulator, ansible_env, run_tasks  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Clean errors"
LEAK = "tok-LEAK-c0ffee"   # the start of every bad token: it must show nowhere
TRACEBACKS = {"ANSIBLE_DISPLAY_TRACEBACK": "error"}
# An OSC title change ended by BEL, a screen clear, a C1 CSI colour, a carriage return and a bidi override.
EVIL = "bad\x1b]0;owned\x07\x1b[2J\x9b31m\r\nrm -rf / \u202eevil"
CONTROLS = ("\x1b", "\x07", "\x9b", "\r", "\u202e")


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=93, probes=3, templates=2, alerts=40, flows=30, pcap="all", extra_args=NO_ROTATION,
                  token=TOKEN_MARKER) as emulator:
        emulator.configure(task_delay=0.2, task_retry_delay=0.2)
        yield emulator


def assert_clean_failure(result, words):
    assert result is not None and result.get("failed") is True, result
    assert not result_has_traceback(result), result
    message = result.get("msg", "")
    missing = [word for word in words if word not in message]
    assert not missing, "message lacks %s: %s" % (missing, message)
    text = json.dumps(result)
    assert LEAK not in text and TOKEN_MARKER not in text
    return message


# ------------------------------------------------------------------------------------------------ options

# key: (scenario, module, args, words of the message)
def option_cases(paths):
    good = {"dest": paths["dest"]}
    return {
        "tok_crlf": ("scs_token with CR/LF (header injection)", "alert_info", {"scs_token": LEAK + "\r\nX-Injected: 1"},
                     ["scs_token", "line break", "not shown"]),
        "tok_esc": ("scs_token with an ESC control character", "probe_info", {"scs_token": LEAK + "\x1b[31m"},
                    ["scs_token", "control character"]),
        "tok_euro": ("scs_token with a character outside Latin-1 (\u20ac)", "alert_pcap",
                     dict(good, scs_token=LEAK + "\u20ac", since="1h"), ["scs_token", "outside Latin-1"]),
        "tok_cjk": ("scs_token with CJK characters", "pcap_download",
                    dict(good, scs_token=LEAK + "\u4e2d\u6587", filename="neverSeen1"), ["scs_token", "outside Latin-1"]),
        "timeout_nan": ("timeout nan", "alert_info", {"timeout": "nan"}, ["timeout must be a number of seconds", "nan"]),
        "timeout_inf": ("timeout inf", "probe_info", {"timeout": "inf"}, ["timeout must be a number of seconds", "inf"]),
        "timeout_zero": ("timeout 0", "alert_pcap", dict(good, timeout=0, since="1h"), ["timeout must be", "greater than 0"]),
        "retries_negative": ("retries -1", "alert_info", {"retries": -1}, ["retries must be a whole number between 0 and 20"]),
        "retries_huge": ("retries 1000", "alert_info", {"retries": 1000}, ["retries must be a whole number between 0 and 20"]),
        "dl_timeout_nan": ("download_timeout nan", "pcap_download", dict(good, filename="neverSeen2", download_timeout="nan"),
                           ["download_timeout must be a number of seconds"]),
        "max_size_zero": ("max_size 0", "alert_pcap", dict(good, since="1h", max_size=0), ["max_size must be a size", "4G"]),
        "ca_missing_info": ("ca_path that does not exist", "alert_info", {"ca_path": paths["missing"]},
                            ["ca_path %s does not exist" % paths["missing"], "SCS_CA_PATH"]),
        "ca_missing_pcap": ("ca_path that does not exist", "alert_pcap", dict(good, ca_path=paths["missing"], since="1h"),
                            ["ca_path %s does not exist" % paths["missing"]]),
        "ca_missing_probes": ("ca_path that does not exist", "probe_info", {"ca_path": paths["missing"]},
                              ["ca_path %s does not exist" % paths["missing"]]),
        "ca_missing_dl": ("ca_path that does not exist", "pcap_download",
                          dict(good, ca_path=paths["missing"], filename="neverSeen3"), ["ca_path %s does not exist" % paths["missing"]]),
        "ca_text_info": ("ca_path that is not PEM (text)", "alert_info", {"ca_path": paths["text"]},
                         ["ca_path %s holds no certificate in PEM form" % paths["text"], "BEGIN CERTIFICATE"]),
        "ca_text_pcap": ("ca_path that is not PEM (text)", "alert_pcap", dict(good, ca_path=paths["text"], since="1h"),
                         ["ca_path %s holds no certificate in PEM form" % paths["text"]]),
        "ca_text_probes": ("ca_path that is not PEM (text)", "probe_info", {"ca_path": paths["text"]},
                           ["ca_path %s holds no certificate in PEM form" % paths["text"]]),
        "ca_der_info": ("ca_path holding the right CA in DER form", "alert_info", {"ca_path": paths["der"]},
                        ["ca_path %s holds no certificate in PEM form" % paths["der"], "openssl x509 -inform der"]),
    }


@pytest.fixture(scope="module")
def options_batch(emu, tmp_path_factory):
    base = tmp_path_factory.mktemp("options")
    with open(emu.ca_path, encoding="ascii") as handle:
        der = ssl.PEM_cert_to_DER_cert(handle.read())
    paths = {"dest": str(base / "dest"), "missing": str(base / "no-such-dir" / "ca.pem"), "text": str(base / "ca.txt"),
             "der": str(base / "ca.der")}
    with open(paths["text"], "w", encoding="ascii") as handle:
        handle.write("this is not a certificate\n")
    with open(paths["der"], "wb") as handle:
        handle.write(der)
    runner = CaseBatch(emu)
    runner.cases = option_cases(paths)
    for key, (_scenario, module, args, _words) in runner.cases.items():
        runner.add(key, "stamus.scs.%s" % module, args)
    runner.execute(base, verbosity=3)
    return runner


@pytest.mark.parametrize("key", sorted(option_cases({"dest": "", "missing": "", "text": "", "der": ""})))
def test_unusable_option_is_refused_before_any_request(options_batch, ledger, key):
    scenario, module, _args, words = options_batch.cases[key]
    message = assert_clean_failure(options_batch[key], words)
    sent = options_batch.requests_of(key)
    assert sent == [], "refused locally, yet SCS was called: %s" % [entry["path"] for entry in sent]
    ledger.checked("no traceback")
    ledger.checked("no token leak")
    ledger.record(CATEGORY, scenario, module, "clear error", "%s (no request sent, not retried)" % excerpt(message, width=200))


def test_no_traceback_nor_token_in_the_options_run(options_batch):
    out = options_batch.run.stdout + options_batch.run.stderr
    assert not has_traceback(out), out[-3000:]
    assert LEAK not in out and TOKEN_MARKER not in out
    assert "Traceback" not in out


# ------------------------------------------------------------------------------------------------ inventory

INVENTORY_CASES = {
    "missing ca_path": ({"ca_path": "/nonexistent/scs-ca.pem"}, {}, ["ca_path /nonexistent/scs-ca.pem does not exist"]),
    "ca_path that is not PEM (text)": ({"ca_path": "TEXT"}, {}, ["holds no certificate in PEM form"]),
    "scs_token with CR/LF": ({}, {"SCS_TOKEN": LEAK + "\r\nX-Injected: 1"}, ["scs_token contains a line break"]),
    "timeout nan": ({"timeout": "nan"}, {}, ["timeout must be a number of seconds"]),
}


def transport_frames(text):
    """Traceback frames inside the HTTP/TLS stack: the sign of an exception nobody caught."""
    return [name for name in ("/requests/", "/urllib3/", "/ssl.py", "/http/client.py") if name in text]


def run_inventory(emu, tmp_path, options, env, tracebacks):
    path = tmp_path / "site.scs.yml"
    path.write_text(yaml.safe_dump(dict({"plugin": "stamus.scs.probes"}, **options)))
    extra = dict(emu.env(), ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true", **env)
    if tracebacks:
        extra.update(TRACEBACKS)
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(path), "--list"], env=ansible_env(extra),
                          capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("scenario", sorted(INVENTORY_CASES))
def test_inventory_plugin_reports_clean_errors(emu, tmp_path, ledger, scenario):
    options, env, words = INVENTORY_CASES[scenario]
    if options.get("ca_path") == "TEXT":
        options = dict(options, ca_path=str(tmp_path / "ca.txt"))
        (tmp_path / "ca.txt").write_text("not a certificate\n")
    emu.clear_requests()
    rc, out = run_inventory(emu, tmp_path, options, env, tracebacks=False)
    assert rc != 0
    missing = [word for word in words if word not in out]
    assert not missing, "output lacks %s: %s" % (missing, out[-2000:])
    assert "Traceback" not in out and LEAK not in out and TOKEN_MARKER not in out, out[-3000:]
    # With tracebacks asked for, Ansible shows its own for any failed inventory; none may come from inside the client.
    rc, out_traced = run_inventory(emu, tmp_path, options, env, tracebacks=True)
    assert rc != 0 and words[0] in out_traced and not transport_frames(out_traced), out_traced[-3000:]
    assert LEAK not in out_traced and TOKEN_MARKER not in out_traced
    assert emu.requests() == []
    line = next(line for line in out.splitlines() if words[0] in line)
    ledger.checked("no traceback")
    ledger.checked("no token leak")
    ledger.record(CATEGORY, scenario, "probes inventory (ansible-inventory)", "clear error",
                  "%s (no request sent)" % excerpt(line, width=200))


def test_modules_under_display_traceback_fail_cleanly(emu, tmp_path, ledger):
    """ANSIBLE_DISPLAY_TRACEBACK=error adds a traceback to every failed task: it must be that of the collection's
    own typed error, not of an exception that escaped from the HTTP stack."""
    missing = str(tmp_path / "none" / "ca.pem")
    modules = {"alert_info": {}, "alert_pcap": {"since": "1h", "dest": str(tmp_path / "dest")}, "probe_info": {}}
    emu.clear_requests()
    run = run_tasks(tmp_path, dict(emu.env(), **TRACEBACKS), [
        {"name": name, "stamus.scs.%s" % name: dict(args, ca_path=missing), "register": name}
        for name, args in modules.items()])
    for name in modules:
        result = run[name]
        assert result["failed"] and result["error_type"] == "ScsConfigError", result
        assert result["msg"].startswith("ca_path %s does not exist" % missing) and "MODULE FAILURE" not in json.dumps(result)
        assert "module_stderr" not in result and not transport_frames(json.dumps(result)), result
        ledger.checked("no traceback")
        ledger.record(CATEGORY, "ca_path that does not exist, ANSIBLE_DISPLAY_TRACEBACK=error", name, "clear error",
                      "%s (typed ScsConfigError, no request sent)" % excerpt(result["msg"], width=160))
    assert emu.requests() == []


# ------------------------------------------------------------------------------------------------ server text

@pytest.fixture(scope="module")
def evil_batch(emu, tmp_path_factory):
    """Each case's call answered with EVIL in a different place."""
    base = tmp_path_factory.mktemp("evil")
    alerts = lone_alerts(emu)
    chained, stepped, retrieved = alerts[0], alerts[1], alerts[2]
    emu.clear_faults()
    emu.clear_probe_faults()
    emu.inject_fault(method="GET", path="/alerts_tail/$", kind="status", status=500, count=-1, body={"detail": EVIL})
    emu.inject_fault(method="POST", path="/%s/extract_pcap/$" % chained["_id"], kind="status", status=400, count=-1,
                     body={"error": EVIL})
    emu.inject_fault(method="POST", path="/%s/extract_pcap/$" % stepped["_id"], kind="status", status=400, count=-1,
                     body={"error": EVIL})
    emu.inject_fault(method="GET", path="/%s/retrieve/$" % retrieved["_id"], kind="html500", count=-1,
                     body="<html><body><h1>%s</h1></body></html>" % EVIL)
    emu.inject_fault(method="GET", path="/appliances/template/$", kind="status", status=400, count=-1,
                     body={"ordering": [EVIL]})
    for probe in ("probe-01", "probe-02", "probe-03"):
        emu.probe_fault(probe, status="failed", message=EVIL, count=-1)  # every attempt: the apply fails
    stage_steps(emu, stepped, "extract")
    stage_steps(emu, retrieved, "retrieve")
    runner = CaseBatch(emu)
    runner.cases = {
        "evil_detail": ("ESC/OSC sequences in an error's detail", "alert_info", {"limit": 1}),
        "evil_chain": ("ESC/OSC sequences in a step's {\"error\": ...}", "alert_pcap",
                       {"alerts": [chained], "dest": str(base / "chain"), "fail_on": "none"}),
        "evil_step": ("ESC/OSC sequences in a step's {\"error\": ...}", "pcap_extract",
                      {"filename": stepped["_id"], "probe": stepped["host"]}),
        "evil_html": ("ESC/OSC sequences in an HTML error page", "pcap_retrieve",
                      {"filename": retrieved["_id"], "probe": retrieved["host"]}),
        "evil_fields": ("ESC/OSC sequences in 400 field messages", "template_info", {}),
        "evil_apply": ("ESC/OSC sequences in an apply task's probe messages", "apply_changes", {"force": True}),
    }
    try:
        for key, (_scenario, module, args) in runner.cases.items():
            runner.add(key, "stamus.scs.%s" % module, args)
        runner.execute(base, verbosity=3)
    finally:
        emu.clear_faults()
        emu.clear_probe_faults()
    return runner


def messages_of(result):
    """What a result tells the user about an error: msg, warnings, per-alert messages, the server's error body
    (api_detail) and the apply task's report."""
    texts = [result.get("msg") or ""] + list(result.get("warnings") or [])
    texts += [entry.get("message") or "" for entry in result.get("results") or [] if isinstance(entry, dict)]
    texts += [json.dumps(result[key], ensure_ascii=False) for key in ("api_detail", "apply") if key in result]
    return [text for text in texts if text]


# evil_chain is in the batch for the terminal check only: alert_pcap quoted step errors with repr() already.
@pytest.mark.parametrize("key", ["evil_apply", "evil_detail", "evil_fields", "evil_html", "evil_step"])
def test_server_text_is_printed_without_control_characters(evil_batch, ledger, key):
    scenario, module, _args = evil_batch.cases[key]
    result = evil_batch[key]
    texts = messages_of(result)
    quoted = [text for text in texts if "owned" in text]
    assert quoted, "the server's text is not quoted at all: %s" % texts
    dirty = [text for text in texts if any(char in text for char in CONTROLS)]
    assert not dirty, dirty
    assert any("\\x1b]0;owned\\x07" in text for text in quoted), quoted
    assert not result_has_traceback(result)
    ledger.checked("no traceback")
    ledger.record(CATEGORY, scenario, module, "clear error", "quoted as: %s" % excerpt(quoted[0], width=200))


def test_no_control_character_reaches_the_terminal(evil_batch, ledger):
    out = evil_batch.run.stdout + evil_batch.run.stderr
    assert "owned" in out
    found = sorted({repr(char) for char in CONTROLS if char in out})
    assert not found, "raw control characters in ansible-playbook's output: %s\n%s" % (found, "\n".join(
        repr(line[:300]) for line in out.splitlines() if any(char in line for char in CONTROLS))[:5000])
    assert not has_traceback(out)
    ledger.record(CATEGORY, "ESC/OSC/BEL/C1/CR/bidi sequences from SCS, 6 places, at -vvv", "ansible-playbook output",
                  "survived", "%d KiB of output: none of ESC, BEL, C1 CSI, CR, U+202E; the text shows as escapes "
                  "(\\x1b]0;owned\\x07)" % (len(out) // 1024))
