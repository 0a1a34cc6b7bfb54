"""`make demo`: run the main job against the SCS in $SCS_URL, or against the bundled emulator over TLS."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAYBOOK = os.path.join(REPO, "playbooks", "find_alerts.yml")
ARGS = ["-e", "limit=1"]


def run_playbook(env):
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), PLAYBOOK] + ARGS + sys.argv[1:]
    return subprocess.run(command, env=env, check=False).returncode


def main():
    if os.environ.get("SCS_URL"):
        if not os.environ.get("SCS_TOKEN"):
            sys.exit("SCS_URL is set but SCS_TOKEN is not: export the API token of your SCS user as SCS_TOKEN.")
        print("Running against %s" % os.environ["SCS_URL"], flush=True)
        return run_playbook(os.environ)
    sys.path.insert(0, os.path.join(REPO, "tests", "emulator"))
    from scs_emulator.testing import Emulator  # pylint: disable=import-outside-toplevel

    with Emulator(tls=True) as emulator:
        print("No SCS_URL set: using the SCS emulator at %s (CA %s)" % (emulator.url, emulator.ca_path), flush=True)
        return run_playbook(dict(os.environ, **emulator.env()))


if __name__ == "__main__":
    sys.exit(main())
