"""Run by a play's pipe lookup: clear the emulator's faults, mark the request log, inject one scenario's faults.

    python faultkit_inject.py SPECFILE KEY

SPECFILE (written by faultkit.write_specs) holds the emulator URL, its CA and {key: [fault, ...]}. The time the
scenario starts is appended to SPECFILE.marks, so the test can cut the request log (arrival times) per scenario.
Standard library only: it starts in a few tens of milliseconds.
"""

import json
import ssl
import sys
import time
import urllib.request


def call(spec, method, path, body=None):
    context = ssl.create_default_context(cafile=spec["ca"]) if spec.get("ca") else None
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(spec["url"] + "/_emulator/" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30, context=context) as response:  # nosec - loopback admin API
        text = response.read()
    return json.loads(text) if text else None


def main(specfile, key):
    with open(specfile, encoding="utf-8") as handle:
        spec = json.load(handle)
    call(spec, "DELETE", "faults/")
    with open(spec["marks"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"key": key, "at": time.time()}) + "\n")
    ids = [call(spec, "POST", "faults/", fault)["id"] for fault in spec["faults"].get(key, [])]
    print("scenario %s: faults %s" % (key, ids))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
