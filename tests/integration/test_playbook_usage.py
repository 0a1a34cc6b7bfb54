"""How users start the collection's playbooks and modules, and what they print: real ansible-playbook and ansible
against the emulator over HTTPS."""

import json
import os
import re
import shlex
import subprocess

import pytest

from runner import BIN, REPO, Emulator, ansible_env, role_playbook, run_tasks


@pytest.fixture
def broken_discovery(tmp_path):
    """A PATH whose first python3.13 is a broken pyenv-like shim, which interpreter discovery prefers."""
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "python3.13"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    return str(shims)


def run(command, scs, cwd, path_first=None):
    env = ansible_env(scs.env())
    if path_first:
        env["PATH"] = path_first + os.pathsep + env["PATH"]
    return subprocess.run(command, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=300, check=False)


def playbook(name, *extra):
    return [os.path.join(BIN, "ansible-playbook"), "stamus.scs." + name] + list(extra)


def test_playbook_runs_with_an_explicit_localhost_inventory(tmp_path, scs, broken_discovery):
    done = run(playbook("find_alerts", "-i", "localhost,", "-e", "limit=2"), scs, tmp_path, broken_discovery)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No start of json char found" not in done.stdout and "ok=" in done.stdout


def test_readme_ad_hoc_command_works(tmp_path, scs, broken_discovery):
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        [line] = [line for line in handle if line.startswith("ansible localhost -c local -m stamus.scs.alert_info ")]
    command = shlex.split(line)
    done = run([os.path.join(BIN, command[0])] + command[1:], scs, tmp_path, broken_discovery)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(re.search(r"^localhost \| SUCCESS => (\{.*)", done.stdout, re.M | re.S).group(1))
    assert 0 < result["count"] <= 3 and {alert["alert"]["severity"] for alert in result["alerts"]} == {1}


@pytest.mark.parametrize("unset, missing", [(("SCS_URL", "SCS_TOKEN"), "scs_url and scs_token are not set"),
                                            (("SCS_TOKEN",), "scs_token is not set")])
def test_missing_connection_names_options_and_environment(tmp_path, scs, unset, missing):
    env = {key: value for key, value in ansible_env(scs.env()).items() if key not in unset}
    done = subprocess.run([os.path.join(BIN, "ansible"), "localhost", "-c", "local", "-m", "stamus.scs.probe_info"],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert ("No SCS connection: %s. Set scs_url and scs_token in the task (or once for every module with "
            "module_defaults for group/stamus.scs.scs), or the SCS_URL and SCS_TOKEN environment variables." % missing
            ) in done.stdout, done.stdout
    assert "missing required arguments" not in done.stdout and scs.token not in done.stdout


def fetch_alert_pcap(scs, cwd, alert, *extra):
    return run(playbook("fetch_alert_pcap", "-e", "signature_id=%d" % alert["alert"]["signature_id"],
                        "-e", "flow_id=%d" % alert["flow_id"], *extra), scs, cwd)


def test_fetch_alert_pcap_fails_with_each_outcome_when_nothing_was_fetched(tmp_path, scs):
    alert = next(alert for alert in scs.alerts() if not alert.get("capture_file"))
    failed = fetch_alert_pcap(scs, tmp_path, alert)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    shown = failed.stdout.split("TASK [Show why alerts have no pcap]", 1)[1]
    assert '"outcome": "no_capture"' in shown and '"alert_id": "%s"' % alert["_id"] in shown
    assert "conditional pcap" in shown  # the outcome's message
    assert "No pcap of signature_id=%d and flow_id=%d was fetched (no_capture): " % (
        alert["alert"]["signature_id"], alert["flow_id"]) in failed.stdout
    assert "-e on_no_pcap=warn accepts this." in failed.stdout

    warned = fetch_alert_pcap(scs, tmp_path, alert, "-e", "on_no_pcap=warn")
    assert warned.returncode == 0, warned.stdout + warned.stderr
    assert '"outcome": "no_capture"' in warned.stdout.split("TASK [Show why alerts have no pcap]", 1)[1]

    captured = next(alert for alert in scs.alerts() if alert.get("capture_file"))
    fetched = fetch_alert_pcap(scs, tmp_path, captured)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert "skipping: [localhost]" in fetched.stdout.split("TASK [Show why alerts have no pcap]", 1)[1].split("TASK", 1)[0]


def test_modules_warn_when_no_alert_matches(tmp_path, scs):
    tasks = [{"name": "Info", "stamus.scs.alert_info": {"signature_id": [1], "probe": "probe-01", "since": "7d"},
              "register": "info"},
             {"name": "Pcap", "stamus.scs.alert_pcap": {"signature_id": [1], "flow_id": 5, "dest": str(tmp_path / "ev")},
              "register": "pcap"},
             {"name": "Matching", "stamus.scs.alert_info": {"limit": 1}, "register": "matching"}]
    done = run_tasks(tmp_path, scs.env(), tasks)
    assert done["info"]["count"] == 0 and done["pcap"]["summary"]["alerts"] == 0
    assert ("No alert matches signature_id=1, probe='probe-01' in the last 7d: check the filters, or widen the "
            "window (for example since=90d).") in done.stderr
    assert "No alert matches signature_id=1, flow_id=5 in SCS's default window (the last 30 days)" in done.stderr
    assert done["matching"]["count"] == 1 and done.stderr.count("No alert matches") == 2


def test_find_alerts_prints_a_table_of_untrusted_fields_and_the_next_commands(tmp_path):
    hostile = "ET {{ lookup('pipe', 'touch PWNED') }} \x1b[31mRED\nand a second line of text"  # run in tmp_path
    with Emulator(tls=True, seed=3, probes=2, templates=1, alerts=5, flows=5, pcap="all") as emu:
        [alert] = emu.add_alerts(probe="probe-01", fields={"alert": {"signature_id": 2999001, "signature": hostile}})
        emu.add_alerts(probe="probe-01", fields={"alert": {"signature_id": 2999001}, "host": "x;touch PWNED",
                                                 "flow_id": 7})
        done = run(playbook("find_alerts", "-e", "signature_id=2999001"), emu, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = json.loads(done.stdout.split("TASK [Show the alerts] ", 1)[1].split("=> ", 1)[1].split("\n}\n", 1)[0] + "\n}")["msg"]
    assert lines[0] == "2 of 2 matching alerts shown"
    assert re.split(r"\s{2,}", lines[1]) == ["time (UTC)", "probe", "sid", "signature", "flow_id", "5-tuple", "pcap"]
    row = next(line for line in lines[2:] if str(alert["flow_id"]) in line)
    assert "ET {{ lookup('pipe', 'touch PWNED') }} \\x1b[31mRED and a...  " in row  # cut at 60 characters, at a space
    assert "\x1b" not in row and "\n" not in row
    assert "%s:%d -> %s:%d" % (alert["src_ip"], alert["src_port"], alert["dest_ip"], alert["dest_port"]) in row
    assert row.startswith(alert["@timestamp"][:10]) and row.endswith("yes")
    assert len({len(line) for line in lines[1:]} - {len(row)}) <= 1  # aligned columns
    commands = json.loads(done.stdout.split("TASK [Show how to fetch their pcaps] ", 1)[1].split("=> ", 1)[1].split(
        "\n}\n", 1)[0] + "\n}")["msg"]
    assert commands == ["ansible-playbook stamus.scs.fetch_alert_pcap -e signature_id=2999001 -e flow_id=%d -e "
                        "probe=probe-01" % alert["flow_id"]]  # not the alert whose probe name holds shell syntax
    assert not (tmp_path / "PWNED").exists()


def test_evidence_playbooks_name_their_own_variables(tmp_path, clean_scs):
    alert = next(alert for alert in clean_scs.alerts() if alert.get("capture_file"))
    clean_scs.clear_requests()
    bad = run(playbook("evidence_pull", "-e", "fail_on=never", "-e", "dest=%s" % (tmp_path / "pull")), clean_scs, tmp_path)
    output = bad.stdout + bad.stderr
    assert bad.returncode != 0 and 'fail_on must be any or none (got fail_on="never", ' in output
    assert "pcap_evidence_" not in output and "argument_spec" not in output and clean_scs.requests() == []
    bad = fetch_alert_pcap(clean_scs, tmp_path, alert, "-e", "report=true", "-e", "report_format=pdf")
    assert bad.returncode != 0 and "report_format must be markdown or html" in bad.stdout + bad.stderr
    assert "argument_spec" not in bad.stdout + bad.stderr and clean_scs.requests() == []


def test_fail_on_advice_only_for_partial_results_and_errors_shown_once(tmp_path, clean_scs):
    alert = next(alert for alert in clean_scs.alerts() if alert.get("capture_file"))
    clean_scs.inject_fault(path="extract_pcap", kind="status", status=400, body={"error": "probe busy"}, count=-1)
    for extra in ((), ("-e", "report=true")):
        failed = fetch_alert_pcap(clean_scs, tmp_path, alert, "-e", "dest=%s" % (tmp_path / "one"), *extra)
        output = failed.stdout + failed.stderr
        assert failed.returncode != 0 and "could not be fetched" in output and "probe busy" in output
        assert "fail_on=none" not in output  # nothing was fetched: there is nothing partial to accept
        assert output.count("[ERROR]") == 1, output  # one failed task, after the report when there is one
    clean_scs.clear_faults()
    clean_scs.inject_fault(path="extract_pcap", kind="status", status=400, body={"error": "probe busy"}, count=1)
    partial = run(playbook("evidence_pull", "-e", "since=30d", "-e", "limit=4", "-e", "workers=1",
                           "-e", "dest=%s" % (tmp_path / "pull")), clean_scs, tmp_path)
    output = partial.stdout + partial.stderr
    assert partial.returncode != 0 and re.search(r"[123] of 4 alert\(s\) could not be fetched", output), output[-2500:]
    assert "Set fail_on=none to accept the partial results." in output


def evidence_role(tmp_path, scs, role_vars):
    return run([os.path.join(BIN, "ansible-playbook"), str(role_playbook(tmp_path, role_vars))], scs, tmp_path)


def markdown_table(text, heading):
    lines = [line for line in text.split(heading, 1)[1].split("\n## ", 1)[0].splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip().strip("|").split(" | ")]
    return [dict(zip(header, [cell.strip() for cell in line.strip().strip("|").split(" | ")])) for line in lines[2:]]


def test_one_report_per_day_merges_runs_with_alert_time_and_five_tuple(tmp_path, scs):
    captured = [alert for alert in scs.alerts() if alert.get("capture_file")]
    first = captured[0]
    second = next(alert for alert in captured if (alert["host"], alert["flow_id"]) != (first["host"], first["flow_id"]))
    dest = tmp_path / "case"
    (tmp_path / "case").mkdir()
    for alert in (first, second, first):
        done = evidence_role(tmp_path, scs, {"pcap_evidence_dest": str(dest), "pcap_evidence_alert_ids": [alert["_id"]]})
        assert done.returncode == 0, done.stdout + done.stderr
    [report] = sorted(dest.glob("report-*.md"))
    assert [path.name for path in sorted(dest.glob("report-*"))] == [report.stem + ".json", report.name]
    text = report.read_text()
    runs = markdown_table(text, "## Runs of the day")
    assert len(runs) == 3 and [run["fetched"] for run in runs] == ["0", "1", "1"] and runs[0]["present"] == "1"
    rows = {row["alert id"]: row for row in markdown_table(text, "## Alerts")}
    assert set(rows) == {first["_id"], second["_id"]} and rows[first["_id"]]["outcome"] == "present"
    for alert in (first, second):
        assert rows[alert["_id"]]["5-tuple"] == "%s %s:%d -> %s:%d" % (
            alert["proto"], alert["src_ip"], alert["src_port"], alert["dest_ip"], alert["dest_port"])
        assert rows[alert["_id"]]["time (UTC)"][:10] == alert["@timestamp"][:10]

    (dest / (report.stem + ".json")).write_text('{"schema": "something else", "runs": [1, 2]}')
    done = evidence_role(tmp_path, scs, {"pcap_evidence_dest": str(dest), "pcap_evidence_alert_ids": [second["_id"]],
                                         "pcap_evidence_report_format": "html"})
    assert done.returncode == 0 and "is not report data of this role" in done.stdout
    html = (dest / (report.stem + ".html")).read_text()
    assert html.count('<tr class="present">') == 1 and "<th>5-tuple</th>" in html and "<th>time (UTC)</th>" in html
    assert json.loads((dest / (report.stem + ".json")).read_text())["schema"] == "stamus.scs/evidence-report-day/v1"


def test_http_url_on_the_tls_port_hints_https(tmp_path, scs):
    env = dict(scs.env(), SCS_URL=scs.url.replace("https://", "http://"))
    done = run_tasks(tmp_path, env, [{"name": "Plain", "stamus.scs.probe_info": {"retries": 0}, "register": "plain"}])
    assert done["plain"]["failed"] and done["plain"]["error_type"] == "ScsTransportError"
    assert done["plain"]["msg"].endswith("if SCS serves HTTPS on this port, use https://."), done["plain"]["msg"]
