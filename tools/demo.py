"""`make demo`: fetch the pcap behind an alert from $SCS_URL, or from the bundled SCS emulator over TLS.

Against the emulator it picks the newest alert with a capture file and runs playbooks/fetch_alert_pcap.yml for it;
against a real SCS it runs playbooks/evidence_pull.yml for the newest alert of the last day. Evidence lands in
demo-output/evidence/.
"""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEST = os.path.join(REPO, "demo-output", "evidence")
sys.path[:0] = [os.path.join(REPO, "tests"), os.path.join(REPO, "tests", "emulator")]

from collection_path import collections_dir  # noqa: E402  pylint: disable=wrong-import-position


def run_playbook(name, env, *extra):
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), os.path.join(REPO, "playbooks", name),
               "-e", "dest=%s" % DEST] + list(extra) + sys.argv[1:]
    # This checkout is the collection stamus.scs, before any installed copy.
    paths = [collections_dir()] + [path for path in [env.get("ANSIBLE_COLLECTIONS_PATH")] if path]
    return subprocess.run(command, env=dict(env, ANSIBLE_COLLECTIONS_PATH=os.pathsep.join(paths)), check=False).returncode


def main():
    if os.environ.get("SCS_URL"):
        if not os.environ.get("SCS_TOKEN"):
            sys.exit("SCS_URL is set but SCS_TOKEN is not: export the API token of your SCS user as SCS_TOKEN.")
        print("Running against %s" % os.environ["SCS_URL"], flush=True)
        return run_playbook("evidence_pull.yml", os.environ, "-e", "since=24h", "-e", "limit=1")
    from scs_emulator.testing import Emulator  # pylint: disable=import-outside-toplevel

    with Emulator(tls=True, pcap="all", extra_args=("--pcap-total-size", "100000000")) as emulator:
        alert = next(alert for alert in emulator.alerts() if alert.get("capture_file"))
        print("No SCS_URL set: using the SCS emulator at %s (CA %s)\nFetching the pcap of alert %s (%s) on %s" % (
            emulator.url, emulator.ca_path, alert["_id"], alert["alert"]["signature"], alert["host"]), flush=True)
        return run_playbook("fetch_alert_pcap.yml", dict(os.environ, **emulator.env()),
                            "-e", "signature_id=%d" % alert["alert"]["signature_id"], "-e", "flow_id=%d" % alert["flow_id"],
                            "-e", "report=true")


if __name__ == "__main__":
    sys.exit(main())
