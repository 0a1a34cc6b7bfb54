"""Shared helpers of the benchmark: paths, the emulator, timing, process CPU and peak memory."""

import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tests",
                                "integration"))

# The launchers and environments the tests use, so that the bench measures what the tests check.
from runner import (  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
    BIN,
    COLLECTIONS,
    PEAK_AT_EXIT,
    REPO,
    Emulator,
    ansible_env,
    apply_now,
    read_peak_rss,
    run_module_process,
)

MIB = 1024 * 1024
GIB = 1024 * MIB
CLK_TCK = os.sysconf("SC_CLK_TCK")


def median(values):
    return statistics.median(values)


def log(*parts):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


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


SCRIPT_LAUNCHER = PEAK_AT_EXIT + """
sys.argv = %r
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def script_with_peak_rss(hwm_file, argv):
    """Command that runs the Python script ``argv[0]`` with ``argv`` and writes its peak RSS (KiB) to hwm_file."""
    return [sys.executable, "-c", SCRIPT_LAUNCHER % (hwm_file, list(argv))]


def run_module_direct(module, args, workdir, meter_emu=None, timeout=600):
    """Run stamus.scs.<module> as its own process; return (result, peak RSS MiB, Meter)."""
    with Meter(meter_emu) as meter:
        run = run_module_process(module, args, workdir, timeout)
    if run.result is None:
        raise RuntimeError("module %s printed no JSON (rc %s): %s %s" % (
            module, run.rc, run.stdout[-2000:], run.stderr[-2000:]))
    if run.rc != 0 or run.result.get("failed"):
        raise RuntimeError("module %s failed: %s" % (module, run.result.get("msg")))
    return run.result, run.peak_mib, meter
