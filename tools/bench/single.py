"""3. One alert end to end: playbooks/fetch_alert_pcap.yml against a playbook of one ansible.builtin.ping task on the
implicit localhost (the floor of any Ansible run). Runs alternate; median of 3 each; every fetch gets a fresh dest.
For where the time goes, the same alert also through one alert_pcap task and through the module run directly."""

import json
import os
import shutil
import tempfile

from common import REPO, Emulator, log, median, run_module_direct, run_playbook, write_playbook

HERE = os.path.dirname(os.path.abspath(__file__))
REPEATS = 3


def task_medians(path):
    """Median time of each task of fetch_alert_pcap.yml over the runs (from the bench_task_times callback)."""
    with open(path, encoding="utf-8") as handle:
        runs = [json.loads(line) for line in handle if line.strip()]
    names = [name for name, _seconds in runs[0]]
    return [[name, median([run[index][1] for run in runs if len(run) > index])] for index, name in enumerate(names)]


def pick_alert(emu):
    """The newest alert with a capture file that is alone on its flow."""
    alerts = [alert for alert in emu.alerts() if alert.get("capture_file")]
    flows = {}
    for alert in alerts:
        flows.setdefault((alert["host"], alert["flow_id"]), []).append(alert)
    return next(alert for alert in alerts if len(flows[(alert["host"], alert["flow_id"])]) == 1)


def run():
    workdir = tempfile.mkdtemp(prefix="scs-bench-single-")
    try:
        with Emulator(tls=True, seed=5, pcap="all", extra_args=("--pcap-total-size", "100000000")) as emu:
            alert = pick_alert(emu)
            query = {"signature_id": alert["alert"]["signature_id"], "flow_id": alert["flow_id"]}
            ping = write_playbook(os.path.join(workdir, "ping.yml"), [{"name": "Ping", "ansible.builtin.ping": {}}],
                                  play_extra={"connection": "local"})
            task = write_playbook(os.path.join(workdir, "task.yml"), [{"name": "Fetch", "stamus.scs.alert_pcap": {
                "signature_id": "{{ signature_id | int }}", "flow_id": "{{ flow_id | int }}", "dest": "{{ dest }}"}}])
            fetch = os.path.join(REPO, "playbooks", "fetch_alert_pcap.yml")
            times = {"ping": [], "fetch": [], "task": [], "module": []}
            task_file = os.path.join(workdir, "task-times.jsonl")
            ping_file = os.path.join(workdir, "ping-times.jsonl")
            timing = {"ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
                      "ANSIBLE_CALLBACKS_ENABLED": "bench_task_times", "BENCH_TASK_TIMES": task_file}
            requests = []
            for index in range(REPEATS):
                times["ping"].append(run_playbook(ping, dict(emu.env(), **dict(timing, BENCH_TASK_TIMES=ping_file)), cwd=workdir))
                dest = os.path.join(workdir, "fetch-%d" % index)
                emu.clear_requests()
                times["fetch"].append(run_playbook(fetch, dict(emu.env(), **timing), dict(query, dest=dest), cwd=workdir))
                requests.append(len(emu.requests()))
                dest2 = os.path.join(workdir, "task-%d" % index)
                times["task"].append(run_playbook(task, emu.env(), dict(query, dest=dest2), cwd=workdir))
                dest3 = os.path.join(workdir, "module-%d" % index)
                _result, _rss, meter = run_module_direct("alert_pcap", dict(
                    query, dest=dest3, scs_url=emu.url, scs_token=emu.token, ca_path=emu.ca_path), workdir)
                times["module"].append(meter.seconds)
                for where in (dest, dest2, dest3):
                    if not os.path.getsize(os.path.join(where, alert["host"], "%s.pcap" % alert["flow_id"])):
                        raise RuntimeError("no pcap in %s" % os.path.basename(where))
            log("; ".join("%s: %s" % (key, ", ".join("%.2f s" % s for s in values)) for key, values in times.items()))
            out = {key: {"seconds": median(values), "runs": values} for key, values in times.items()}
            out["fetch"]["requests"] = median(requests)
            out["fetch"]["tasks"] = task_medians(task_file)
            out["ping"]["tasks"] = task_medians(ping_file)
            return out
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
