"""The set-up tools of the Makefile: the interpreter check, the collection link outside the checkout and the shell
lines `make emulator` prints."""

import os
import subprocess

import requests

from collection_path import collections_dir
from runner import BIN, REPO


def test_a_python_older_than_3_11_is_refused_in_one_line_naming_the_fix(tmp_path):
    old = tmp_path / "python3.9"  # what `python3 -V` answers on an old distribution, and its version check fails
    old.write_text("#!/bin/sh\n[ \"$1\" = -V ] && { echo 'Python 3.9.18'; exit 0; }\nexit 1\n")
    old.chmod(0o755)
    proc = subprocess.run(["bash", os.path.join(REPO, "tools", "venv.sh"), str(tmp_path / "venv"), str(old),
                           os.path.join(REPO, "requirements", "unit.txt")], capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and not (tmp_path / "venv").exists()
    assert proc.stderr.splitlines() == ["%s is not Python 3.11 or newer (Python 3.9.18): run make PYTHON=python3.11" % old]


def test_the_collection_is_linked_from_outside_the_checkout():
    root = collections_dir()
    link = os.path.join(root, "ansible_collections", "stamus", "scs")
    assert not os.path.realpath(root).startswith(os.path.realpath(REPO) + os.sep)
    assert os.readlink(link) == REPO and os.stat(os.path.dirname(root)).st_mode & 0o777 == 0o700
    assert not os.path.lexists(os.path.join(REPO, ".build", "collections"))


def test_make_emulator_prints_export_lines_to_eval_then_serves():
    env = dict(os.environ, PYTHON=os.path.join(BIN, "python"))
    with subprocess.Popen(["bash", os.path.join(REPO, "tools", "emulator.sh"), "--alerts", "5", "--flows", "3"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                          start_new_session=True) as proc:
        try:
            lines = [proc.stdout.readline() for _i in range(3)]
            shown = subprocess.run(["bash", "-c", "eval \"$1\"; echo \"$SCS_URL\"; echo \"$SCS_TOKEN\"; echo \"$SCS_CA_PATH\"",
                                    "-", "".join(lines)], capture_output=True, text=True, check=True).stdout.split("\n")
            assert [line.split("=")[0] for line in lines] == ["export SCS_URL", "export SCS_TOKEN", "export SCS_CA_PATH"]
            url, token, ca_path = shown[:3]
            answer = requests.get(url + "/rest/", headers={"Authorization": "Token " + token}, verify=ca_path, timeout=10)
            assert url.startswith("https://127.0.0.1:") and answer.status_code == 200
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(15)


def test_the_demo_runs_as_the_readme_starts_it():
    """`make demo` runs tools/demo.py with no Ansible setting of its own: the demo finds this checkout as the
    collection by itself, fetches one alert's pcap from the emulator over HTTPS and writes its report."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "SCS_"))}
    proc = subprocess.run([os.path.join(BIN, "python"), os.path.join(REPO, "tools", "demo.py")], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "couldn't resolve module" not in proc.stdout + proc.stderr
    assert "failed=0" in proc.stdout and "fetched" in proc.stdout, proc.stdout[-3000:]
