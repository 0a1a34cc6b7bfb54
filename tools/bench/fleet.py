"""4. Fleet toggle: conditional_pcap with templates: [all] over 500 probes and 50 templates (pcap off everywhere),
first run and rerun: requests sent (reads and writes, from the emulator's request log) and wall time."""

import os
import re
import shutil
import tempfile

from common import Emulator, Meter, log, run_playbook, write_playbook

PROBES, TEMPLATES = 500, 50
READS = ("GET", "HEAD", "OPTIONS")


def run():
    workdir = tempfile.mkdtemp(prefix="scs-bench-fleet-")
    try:
        with Emulator(tls=True, seed=13, probes=PROBES, templates=TEMPLATES, alerts=10, flows=5, pcap="none") as emu:
            playbook = write_playbook(os.path.join(workdir, "fleet.yml"), [
                {"name": "Conditional pcap on every template", "stamus.scs.conditional_pcap": {
                    "templates": ["all"], "state": "enabled", "comment": "bench"}},
            ])
            out = {}
            for label in ("first", "rerun"):
                emu.clear_requests()
                with Meter(emu) as meter:
                    _seconds, stdout = run_playbook(playbook, emu.env(), output=True)
                log_entries = emu.requests()
                recap = re.search(r"changed=(\d+)", stdout)
                changed = bool(recap and int(recap.group(1)))
                out[label] = {"seconds": meter.seconds, "changed": changed, "requests": len(log_entries),
                              "reads": sum(entry["method"] in READS for entry in log_entries),
                              "writes": sum(entry["method"] not in READS for entry in log_entries),
                              "server_seconds": sum(entry.get("duration_ms") or 0 for entry in log_entries) / 1000.0,
                              "methods": sorted({"%s %s" % (entry["method"], entry["path"].split("/rest/")[-1].split("/")[1])
                                                 for entry in log_entries})}
                log("fleet %s: %.1f s, %d requests (%d writes), changed=%s" % (
                    label, meter.seconds, out[label]["requests"], out[label]["writes"], changed))
            enabled = sum(1 for template in emu.state()["templates"] if template.get("conditional_pcap"))
            out["templates_enabled"] = enabled
            return out
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
