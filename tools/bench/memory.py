"""6. Memory: peak resident memory of alert_pcap (run directly as its own process) over 10,000 and 50,000 alerts, from a
query (oldest first, past SCS's 10,000-result window) and from an alerts_file (NDJSON). Each size has its own emulator
seeded with that many alerts, conditional pcap off (so that they cost reading, planning, spooling and reporting, not
fetching), plus 10 new alerts on probe-01 once its conditional pcap is applied, which are really fetched."""

import json
import os
import shutil
import tempfile

from common import Emulator, apply_now, log, run_module_direct

SIZES = (10000, 50000)
REAL = 10
FLOW_SHARE = 0.6


def apply_pcap_on_probe_01(emu):
    probe = next(entry for entry in emu.state()["probes"] if entry["name"] == "probe-01")
    emu.rest("PATCH", "/rest/appliances/probe/%d/" % probe["appliance_id"], json={"conditional_pcap": True}).raise_for_status()
    apply_now(emu, timeout=60)


def write_alerts_file(path, real, count):
    """``count`` alerts: ``count - REAL`` full-size EVE alerts without capture file (one flow each), then the real ones."""
    template = {key: value for key, value in real[0].items() if key != "capture_file"}
    with open(path, "w", encoding="utf-8") as handle:
        for index in range(count - len(real)):
            handle.write(json.dumps(dict(template, _id="benchNoCapture%05d" % index, flow_id=1800000000000000 + index,
                                         host="probe-0%d" % (1 + index % 3))) + "\n")
        handle.writelines(json.dumps(alert) + "\n" for alert in real)
    return os.path.getsize(path)


def measure(emu, workdir, label, args, alerts):
    dest = os.path.join(workdir, label)
    result, rss, meter = run_module_direct("alert_pcap", dict(
        args, dest=dest, scs_url=emu.url, scs_token=emu.token, ca_path=emu.ca_path), workdir, timeout=3600)
    summary = result["summary"]
    if summary["alerts"] != alerts or summary["fetched"] != REAL or summary["failed"]:
        raise RuntimeError("alert_pcap %s: unexpected summary %s" % (label, summary))
    shutil.rmtree(dest)
    log("alert_pcap %s over %d alerts: peak RSS %.1f MiB, %.1f s" % (label, alerts, rss, meter.seconds))
    return {"rss": rss, "seconds": meter.seconds, "alerts": alerts, "flows": summary["flows"],
            "listed": len(result["results"]), "results_listed": result["results_listed"]}


def run():
    out = []
    for size in SIZES:
        workdir = tempfile.mkdtemp(prefix="scs-bench-memory-")
        try:
            with Emulator(tls=True, seed=17, probes=3, templates=1, alerts=size - REAL, flows=int(size * FLOW_SHARE),
                          pcap="none", extra_args=("--pcap-total-size", "100000000"), startup_timeout=900) as emu:
                apply_pcap_on_probe_01(emu)
                real = emu.add_alerts(probe="probe-01", count=REAL)
                file_bytes = write_alerts_file(os.path.join(workdir, "alerts.ndjson"), real, size)
                out.append({
                    "alerts": size, "file_mib": file_bytes / 1048576.0,
                    "query": measure(emu, workdir, "query", {"since": "30d", "page_size": 1000}, size),
                    "alerts_file": measure(emu, workdir, "alerts_file",
                                           {"alerts_file": os.path.join(workdir, "alerts.ndjson")}, size),
                })
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return out
