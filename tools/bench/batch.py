"""2. Batch evidence pull of 500 alerts on 300 flows: alert_pcap in one task, the step modules in an Ansible loop,
the vendor script once per alert, and a minimal concurrent client (the floor). The two slow ones run on two subsets
and are extrapolated linearly to 500 alerts."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from common import Emulator, Meter, log, median, run_playbook, write_playbook

HERE = os.path.dirname(os.path.abspath(__file__))
ALERTS, FLOWS, WORKERS = 500, 300, 4
# alerts in the two subsets of each slow method (the step loop costs about 2 s per alert, the vendor script 0.3 s)
SUBSETS = {"steps": (8, 16), "vendor": (25, 50)}
REPEATS = 3
BATCH_REPEATS = 5  # (a) and (d) are close to their 1.5x target: more runs for a steadier median
EMULATOR = {"tls": True, "seed": 11, "probes": 3, "templates": 2, "pcap": "all", "startup_timeout": 900,
            "extra_args": ("--pcap-total-size", "100000000")}  # large store: nothing rotated


def count_pcaps(dest):
    return sum(name.endswith(".pcap") for _root, _dirs, names in os.walk(dest) for name in names)


def alert_pcap_playbook(workdir, alerts):
    return write_playbook(os.path.join(workdir, "alert_pcap.yml"), [
        {"name": "Pull every alert of the last 30 days", "stamus.scs.alert_pcap": {
            # The floor client fetches pcaps only: so does alert_pcap here (its default also saves each flow's events).
            "since": "30d", "dest": "{{ dest }}", "workers": WORKERS, "flow_events": False}, "register": "pull"},
        {"name": "Check", "ansible.builtin.assert": {
            "that": ["pull.summary.failed == 0", "pull.summary.alerts == %d" % alerts], "quiet": True}},
    ])


def alert_pcap_once(emu, workdir, playbook, flows, index):
    dest = os.path.join(workdir, "alert_pcap-%d" % index)
    with Meter(emu) as meter:
        run_playbook(playbook, emu.env(), {"dest": dest}, timeout=3600)
    if count_pcaps(dest) != flows:
        raise RuntimeError("alert_pcap wrote %d pcaps for %d flows" % (count_pcaps(dest), flows))
    shutil.rmtree(dest)
    return meter


def time_alert_pcap(emu, workdir, alerts, flows, repeats=REPEATS):
    """Median of ``repeats`` runs of alert_pcap in one ansible-playbook task, each into a fresh dest."""
    playbook = alert_pcap_playbook(workdir, alerts)
    runs = [alert_pcap_once(emu, workdir, playbook, flows, index) for index in range(repeats)]
    log("alert_pcap %d alerts: %s" % (alerts, ", ".join("%.1f s" % m.seconds for m in runs)))
    return summary(runs)


def floor_once(emu, workdir, flows, index):
    dest = os.path.join(workdir, "floor-%d" % index)
    with Meter(emu) as meter:
        subprocess.run([sys.executable, os.path.join(HERE, "floor.py"), emu.url, emu.token, emu.ca_path or "", dest],
                       stdout=subprocess.DEVNULL, check=True, timeout=600)
    if count_pcaps(dest) != flows:
        raise RuntimeError("floor client wrote %d pcaps for %d flows" % (count_pcaps(dest), flows))
    shutil.rmtree(dest)
    return meter


def time_against_floor(emu, workdir):
    """(a) and (d), taking turns so that the machine's noise hits both alike."""
    playbook = alert_pcap_playbook(workdir, ALERTS)
    runs = {"alert_pcap": [], "floor": []}
    for index in range(BATCH_REPEATS):
        runs["alert_pcap"].append(alert_pcap_once(emu, workdir, playbook, FLOWS, index))
        runs["floor"].append(floor_once(emu, workdir, FLOWS, index))
    for key, meters in runs.items():
        log("%s %d alerts: %s" % (key, ALERTS, ", ".join("%.1f s" % m.seconds for m in meters)))
    return {key: summary(meters) for key, meters in runs.items()}


def summary(meters):
    seconds = [m.seconds for m in meters]
    mid = sorted(meters, key=lambda m: m.seconds)[len(meters) // 2]
    return {"seconds": median(seconds), "runs": seconds, "server_share": mid.server_cpu / mid.seconds,
            "client_cpu": mid.client_cpu}


def time_steps(emu, workdir, alerts):
    steps = os.path.join(workdir, "steps.yml")
    with open(steps, "w", encoding="utf-8") as handle:
        json.dump([
            {"name": "Upload", "stamus.scs.pcap_upload": {"alert": "{{ alert }}"}, "register": "uploaded"},
            {"name": "Extract", "stamus.scs.pcap_extract": {"filename": "{{ uploaded.filename }}", "probe": "{{ uploaded.probe }}"}},
            {"name": "Retrieve", "stamus.scs.pcap_retrieve": {"filename": "{{ uploaded.filename }}", "probe": "{{ uploaded.probe }}"}},
            {"name": "Download", "stamus.scs.pcap_download": {
                "filename": "{{ uploaded.filename }}", "alert": "{{ alert }}", "dest": "{{ dest }}/{{ uploaded.filename }}.pcap",
                "force": True}},
        ], handle)
    playbook = write_playbook(os.path.join(workdir, "steps_loop.yml"), [
        {"name": "Evidence directory", "ansible.builtin.file": {"path": "{{ dest }}", "state": "directory", "mode": "0750"}},
        {"name": "One chain per alert", "ansible.builtin.include_tasks": steps, "loop": "{{ bench_alerts }}",
         "loop_control": {"loop_var": "alert", "label": "{{ alert._id }}"}},
    ])
    vars_file = os.path.join(workdir, "alerts-%d.json" % len(alerts))
    with open(vars_file, "w", encoding="utf-8") as handle:
        json.dump({"bench_alerts": alerts}, handle)
    dest = os.path.join(workdir, "steps-%d" % len(alerts))
    with Meter(emu) as meter:
        run_playbook(playbook, emu.env(), {"dest": dest}, vars_file=vars_file)
    if count_pcaps(dest) != len(alerts):
        raise RuntimeError("step loop wrote %d pcaps for %d alerts" % (count_pcaps(dest), len(alerts)))
    shutil.rmtree(dest)
    return meter


def time_vendor(emu, workdir, alerts):
    tmp = os.path.join(workdir, "vendor-tmp")
    os.makedirs(tmp, exist_ok=True)
    env = dict(os.environ, VENDOR_CA_BUNDLE=emu.ca_path or "", VENDOR_TMP=tmp)
    with Meter(emu) as meter:
        for alert in alerts:
            subprocess.run([sys.executable, os.path.join(HERE, "vendor_script.py"), emu.url, emu.token,
                            str(alert["alert"]["signature_id"]), str(alert["flow_id"])],
                           env=env, stdout=subprocess.DEVNULL, check=True, timeout=120)
    if not os.path.getsize(os.path.join(tmp, "myfile.pcap")):
        raise RuntimeError("the vendor script downloaded nothing")
    return meter


def extrapolate(small, big, count):
    """Linear fit through two (alerts, seconds) points, evaluated at ``count`` (fixed part at least zero)."""
    (n1, t1), (n2, t2) = small, big
    per_alert = (t2 - t1) / (n2 - n1)
    fixed = max(t1 - n1 * per_alert, 0.0)
    return {"points": [small, big], "per_alert": [t1 / n1, t2 / n2], "marginal": per_alert, "fixed": fixed,
            "seconds": fixed + count * per_alert}


def subset_series(name, timer, emu, workdir, alerts, sizes):
    points = []
    for size in sizes:
        meter = timer(emu, workdir, alerts[:size])
        log("%s %d alerts: %.1f s" % (name, size, meter.seconds))
        points.append((size, meter.seconds))
    return extrapolate(points[0], points[1], ALERTS)


def run():
    workdir = tempfile.mkdtemp(prefix="scs-bench-batch-")
    try:
        with Emulator(alerts=ALERTS, flows=FLOWS, **EMULATOR) as emu:
            alerts = sorted(emu.alerts(), key=lambda alert: alert["_id"])
            assert len(alerts) == ALERTS and all(alert.get("capture_file") for alert in alerts)
            assert len({(alert["host"], alert["flow_id"]) for alert in alerts}) == FLOWS
            return dict(time_against_floor(emu, workdir), **{
                "steps": subset_series("step modules loop", time_steps, emu, workdir, alerts, SUBSETS["steps"]),
                "vendor": subset_series("vendor script", time_vendor, emu, workdir, alerts, SUBSETS["vendor"]),
            })
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
