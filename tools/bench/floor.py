"""The floor of a batch pull: a minimal concurrent client, no Ansible, no verification, no manifest.
Lists the alerts of the last 30 days, keeps one alert per (probe, flow), and runs upload, extract, retrieve and
download (1 MiB chunks) for each flow on 4 threads.

    floor.py <base url> <token> <CA bundle or ""> <dest dir>
"""

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

BASE, TOKEN, CA, DEST = sys.argv[1:5]
VERIFY = CA or True
HEADERS = {"Authorization": "Token " + TOKEN}
LOCAL = threading.local()


def session():
    if not hasattr(LOCAL, "session"):
        LOCAL.session = requests.Session()
        LOCAL.session.headers.update(HEADERS)
    return LOCAL.session


def call(method, path, **kwargs):
    response = session().request(method, BASE + "/rest/" + path, verify=VERIFY, timeout=120, **kwargs)
    response.raise_for_status()
    return response


def alerts():
    params = {"from_date": int((time.time() - 30 * 86400) * 1000), "page_size": 1000, "page": 1}
    while True:
        body = call("GET", "rules/es/alerts_tail/", params=params).json()
        yield from body["results"]
        if not body["next"]:
            return
        params["page"] += 1


def chain(alert):
    host = alert["host"]
    name = call("POST", "rules/filestore_pcap/upload/", params={"host": host},
                files={"file": ("alert.json", json.dumps(alert), "application/json")}).json()["filename"]
    call("POST", "rules/filestore_pcap/%s/extract_pcap/" % name, params={"host": host})
    call("GET", "rules/filestore_pcap/%s/retrieve/" % name, params={"host": host})
    path = os.path.join(DEST, host, "%s.pcap" % alert["flow_id"])
    with call("GET", "rules/filestore_pcap/%s/download/" % name, stream=True) as response, open(path, "wb") as out:
        for chunk in response.iter_content(chunk_size=1024 * 1024):
            out.write(chunk)


def main():
    flows = {}
    for alert in alerts():
        flows.setdefault((alert["host"], alert["flow_id"]), alert)
    for host in {host for host, _flow in flows}:
        os.makedirs(os.path.join(DEST, host), exist_ok=True)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(chain, flows.values()))
    print(json.dumps({"flows": len(flows)}))


if __name__ == "__main__":
    main()
