"""Run real ansible-playbook plays against the emulator and collect every task's registered result."""

import collections
import json
import os
import subprocess
import sys
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "emulator"))
sys.path.insert(0, os.path.join(REPO, "tests"))

from collection_path import collections_dir  # noqa: E402  pylint: disable=wrong-import-position
from scs_emulator.testing import Emulator  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

BIN = os.path.dirname(sys.executable)
COLLECTIONS = collections_dir()
# The default emulator runs with this token, so leaks are easy to spot.
TOKEN_MARKER = "tok-MARKER-5f0c2d9e7b1a"


class PlaybookRun:
    def __init__(self, proc, results):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.results = results

    def __getitem__(self, name):
        return self.results[name]


def run_tasks(tmp_path, env, tasks, check=False, verbosity=0, play_extra=None, extra_vars=None):
    """Run ``tasks`` (dicts, as in a playbook) with ansible-playbook; every task's result is registered under its
    ``register`` name and returned, failures included (the tasks run with ``ignore_errors``)."""
    registered = [task["register"] for task in tasks if "register" in task]
    result_file = tmp_path / "results.json"
    play = {"name": "integration", "hosts": "localhost", "connection": "local", "gather_facts": False,
            "tasks": [dict(task, ignore_errors=True) for task in tasks] + [{
                "name": "Save results",
                "check_mode": False,
                "ansible.builtin.copy": {
                    "dest": str(result_file), "mode": "0600",
                    "content": "{{ {%s} | to_json }}" % ", ".join("'%s': %s | default(None)" % (name, name) for name in registered),
                },
            }]}
    play.update(play_extra or {})
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    command = [os.path.join(BIN, "ansible-playbook"), str(playbook)]
    if check:
        command.append("--check")
    if verbosity:
        command.append("-" + "v" * verbosity)
    for key, value in (extra_vars or {}).items():
        command += ["-e", "%s=%s" % (key, value)]
    proc = subprocess.run(command, env=ansible_env(env), capture_output=True, text=True, timeout=600, check=False)
    results = json.loads(result_file.read_text()) if result_file.exists() else None
    assert results is not None, "ansible-playbook did not finish:\n%s\n%s" % (proc.stdout, proc.stderr)
    return PlaybookRun(proc, results)


def apply_now(emulator, timeout=30):
    """Push what is pending and wait until the task is final, so that no test sees another's apply."""
    task_pk = emulator.rest("POST", "/rest/appliances/probe/update_push_all/").json()["task_pk"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = next(task for task in emulator.state()["tasks"] if task["pk"] == task_pk)
        if task["status"] == "finished" and not task["will_retry"]:
            return
        time.sleep(0.1)
    raise AssertionError("task %s did not finish" % task_pk)


def role_playbook(tmp_path, role_vars):
    """A playbook (its path) that runs the pcap_evidence role on localhost with ``role_vars``."""
    path = tmp_path / "role.yml"
    path.write_text(yaml.safe_dump([{
        "name": "Role", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [{"name": "Evidence", "ansible.builtin.include_role": {"name": "stamus.scs.pcap_evidence"},
                   "vars": role_vars}],
    }], sort_keys=False))
    return path


def ansible_env(extra):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SCS_", "ANSIBLE_"))}
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "PATH": BIN + os.pathsep + env.get("PATH", ""),
    })
    env.update(extra or {})
    return env


# At exit, a process started with one of these launchers writes its own peak resident memory (KiB) to a file: VmHWM,
# the high-water mark of the address space made by exec (rusage's ru_maxrss would carry the parent's over exec).
PEAK_AT_EXIT = """
import atexit, runpy, sys
def _peak():
    with open('/proc/self/status') as status:
        hwm = [line.split()[1] for line in status if line.startswith('VmHWM:')][0]
    with open(%r, 'w') as out:
        out.write(hwm)
atexit.register(_peak)
"""
MODULE_LAUNCHER = PEAK_AT_EXIT + """
sys.argv = ['m', %r]
runpy.run_module('ansible_collections.stamus.scs.plugins.modules.%s', run_name='__main__')
"""
ModuleProcess = collections.namedtuple("ModuleProcess", "rc stdout stderr result peak_mib")


def read_peak_rss(hwm_file):
    """The peak RSS (MiB) a launched process wrote to ``hwm_file``; the file is removed."""
    with open(hwm_file, encoding="ascii") as handle:
        rss = int(handle.read()) / 1024.0
    os.unlink(hwm_file)
    return rss


def run_module_process(module, args, workdir, timeout=600):
    """Run ``stamus.scs.<module>`` with ``args`` as its own process, outside ansible-playbook (to measure the module
    alone). ``result`` is the module's JSON, or None when it printed none."""
    args_file = os.path.join(str(workdir), "%s-args.json" % module)
    hwm_file = os.path.join(str(workdir), "%s-hwm.txt" % module)
    with open(args_file, "w", encoding="utf-8") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SCS_", "ANSIBLE_"))}
    env["PYTHONPATH"] = COLLECTIONS
    proc = subprocess.run([sys.executable, "-c", MODULE_LAUNCHER % (hwm_file, args_file, module)], capture_output=True,
                          env=env, cwd=str(workdir), timeout=timeout, check=False)
    os.unlink(args_file)
    stdout, stderr = proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    try:
        result = json.loads(stdout[stdout.index("{"):])
    except ValueError:
        result = None
    return ModuleProcess(proc.returncode, stdout, stderr, result, read_peak_rss(hwm_file))
