"""Run-time configuration and in-memory state shared by the (single) worker process.

The CLI fills CONFIG before the WSGI app is loaded; gunicorn forks the worker from that process
(preload), so the worker inherits it. SCS_EMULATOR_CONFIG (JSON) is read as a fallback.
"""

import json
import os
import threading

CONFIG = {
    "data_dir": os.environ.get("SCS_EMULATOR_DATA_DIR", ""),
    "pcap_file_size": 65536,
    "pcap_total_size": 262144,
    "task_delay": 0.5,
    "task_retry_delay": 1.0,
    "open_source_push": False,
    "upload_limit": 100000000,
    "extract_other_flow": False,
    "filestore_corrupt": False,  # the filestore serves files whose bytes do not hash to their name
    # alerts_tail: the suffix system_settings reports, keyword sub-fields analysed (over-matching), raw ES hits.
    "es_keyword": "keyword",
    "analysed_subfields": False,
    "raw_hits": False,
    "seed": 1,
}
CONFIG.update(json.loads(os.environ.get("SCS_EMULATOR_CONFIG", "{}") or "{}"))

LOCK = threading.RLock()
# probe name -> {"status", "message", "count"}: the next count pushes of that probe (each attempt of a task pushes it
# once) get that result; count 0 or less: every push.
PROBE_FAULTS = {}


def configure(**values):
    CONFIG.update({k: v for k, v in values.items() if v is not None})


def path(*parts):
    return os.path.join(CONFIG["data_dir"], *parts)


def consume_probe_fault(name):
    with LOCK:
        fault = PROBE_FAULTS.get(name)
        if fault is None:
            return None
        if fault["count"] > 0:
            fault["count"] -= 1
            if fault["count"] == 0:
                del PROBE_FAULTS[name]
        return dict(fault)
