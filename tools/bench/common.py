"""Shared helpers of the benchmark: paths, the emulator, timing, process CPU and peak memory."""

import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
COLLECTIONS = os.path.join(REPO, ".build", "collections")
sys.path.insert(0, os.path.join(REPO, "tests", "emulator"))

from scs_emulator.testing import Emulator  # noqa: E402  pylint: disable=wrong-import-position,unused-import

MIB = 1024 * 1024
GIB = 1024 * MIB
CLK_TCK = os.sysconf("SC_CLK_TCK")


def median(values):
    return statistics.median(values)


def log(*parts):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


def ansible_env(extra=None):
    """Environment of a real ansible-playbook run against the emulator (as tests/integration/runner.py)."""
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


def run_playbook(playbook, emu_env, extra_vars=None, cwd=None, timeout=900, vars_file=None, output=False):
    """Run ansible-playbook; return seconds (and its stdout with ``output``). Fails loudly when the play fails."""
    command = [os.path.join(BIN, "ansible-playbook"), str(playbook)]
    if vars_file:
        command += ["-e", "@" + vars_file]
    for key, value in (extra_vars or {}).items():
        command += ["-e", "%s=%s" % (key, value)]
    started = time.monotonic()
    proc = subprocess.run(command, env=ansible_env(emu_env), capture_output=True, text=True, timeout=timeout,
                          check=False, cwd=cwd)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError("ansible-playbook %s failed (rc %s):\n%s\n%s" % (
            os.path.basename(str(playbook)), proc.returncode, proc.stdout[-4000:], proc.stderr[-2000:]))
    return (seconds, proc.stdout) if output else seconds


def write_playbook(path, tasks, play_extra=None):
    play = {"name": "bench", "hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}
    play.update(play_extra or {})
    with open(path, "w", encoding="utf-8") as handle:
        json.dump([play], handle, indent=1)  # JSON is YAML
    return path


def proc_cpu_seconds(pid):
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children_cpu_seconds():
    usage = os.times()
    return usage.children_user + usage.children_system


class Meter:
    """Wall time, CPU of waited-for children (the client) and CPU of the emulator's worker, around a block."""

    def __init__(self, emu=None):
        self.worker = (emu.state_info or {}).get("worker_pid") if emu is not None else None
        self.seconds = self.client_cpu = self.server_cpu = 0.0

    def __enter__(self):
        self._children = children_cpu_seconds()
        self._server = proc_cpu_seconds(self.worker) if self.worker else 0.0
        self._started = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.seconds = time.monotonic() - self._started
        self.client_cpu = children_cpu_seconds() - self._children
        if self.worker:
            self.server_cpu = proc_cpu_seconds(self.worker) - self._server
        return False


# At exit, the launched process writes its own peak resident memory: VmHWM, the high-water mark of the address space
# made by exec (rusage's ru_maxrss would carry the parent's over exec). As tests/reliability.
_PEAK_AT_EXIT = """
import atexit, runpy, sys
def _peak():
    with open('/proc/self/status') as status:
        hwm = [line.split()[1] for line in status if line.startswith('VmHWM:')][0]
    with open(%r, 'w') as out:
        out.write(hwm)
atexit.register(_peak)
"""
MODULE_LAUNCHER = _PEAK_AT_EXIT + """
sys.argv = ['m', %r]
runpy.run_module('ansible_collections.stamus.scs.plugins.modules.%s', run_name='__main__')
"""
SCRIPT_LAUNCHER = _PEAK_AT_EXIT + """
sys.argv = %r
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def script_with_peak_rss(hwm_file, argv):
    """Command that runs the Python script ``argv[0]`` with ``argv`` and writes its peak RSS (KiB) to hwm_file."""
    return [sys.executable, "-c", SCRIPT_LAUNCHER % (hwm_file, list(argv))]


def read_peak_rss(hwm_file):
    with open(hwm_file, encoding="ascii") as handle:
        rss = int(handle.read()) / 1024.0
    os.unlink(hwm_file)
    return rss


def run_module_direct(module, args, workdir, meter_emu=None, timeout=600):
    """Run stamus.scs.<module> as its own process; return (result, peak RSS MiB, Meter)."""
    args_file = os.path.join(workdir, "%s-args.json" % module)
    hwm_file = os.path.join(workdir, "%s-hwm.txt" % module)
    with open(args_file, "w", encoding="utf-8") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SCS_", "ANSIBLE_"))}
    env["PYTHONPATH"] = COLLECTIONS
    with Meter(meter_emu) as meter:
        proc = subprocess.run([sys.executable, "-c", MODULE_LAUNCHER % (hwm_file, args_file, module)],
                              capture_output=True, env=env, cwd=workdir, timeout=timeout, check=False)
    stdout = proc.stdout.decode("utf-8", "replace")
    try:
        result = json.loads(stdout[stdout.index("{"):])
    except ValueError:
        raise RuntimeError("module %s printed no JSON (rc %s): %s %s" % (
            module, proc.returncode, stdout[-2000:], proc.stderr[-2000:])) from None
    if proc.returncode != 0 or result.get("failed"):
        raise RuntimeError("module %s failed: %s" % (module, result.get("msg")))
    os.unlink(args_file)
    return result, read_peak_rss(hwm_file), meter
