"""5. Scaling: alert_pcap (one ansible-playbook task, workers 4) over 50, 500, 5,000 and 20,000 alerts, flows = 60 % of
alerts. Each size has its own emulator, seeded before the clock starts."""

import shutil
import tempfile

from batch import EMULATOR, time_alert_pcap
from common import Emulator

SIZES = ((50, 3), (500, 3), (5000, 1), (20000, 1))  # (alerts, repeats)


def run():
    out = []
    for alerts, repeats in SIZES:
        flows = alerts * 6 // 10
        workdir = tempfile.mkdtemp(prefix="scs-bench-scale-")
        try:
            with Emulator(alerts=alerts, flows=flows, **EMULATOR) as emu:
                result = time_alert_pcap(emu, workdir, alerts, flows, repeats=repeats)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        out.append(dict(result, alerts=alerts, flows=flows, per_alert=result["seconds"] / alerts))
    return out
