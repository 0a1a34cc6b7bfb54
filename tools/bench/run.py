"""`make bench`: measure the collection against its baselines, side by side in one run against the SCS emulator on
this machine, and write docs/benchmarks.md. Targets are ratios of measurements taken in the same run.

    run.py                      every section, then the document
    run.py --only batch,single  those sections only, printed as JSON (no document)
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import batch  # noqa: E402  pylint: disable=wrong-import-position
import download  # noqa: E402  pylint: disable=wrong-import-position
import fleet  # noqa: E402  pylint: disable=wrong-import-position
import memory  # noqa: E402  pylint: disable=wrong-import-position
import scaling  # noqa: E402  pylint: disable=wrong-import-position
import single  # noqa: E402  pylint: disable=wrong-import-position
from common import REPO, log  # noqa: E402  pylint: disable=wrong-import-position

SECTIONS = {"download": download.run, "batch": batch.run, "single": single.run, "fleet": fleet.run, "scaling": scaling.run,
            "memory": memory.run}
DOC = os.path.join(REPO, "docs", "benchmarks.md")
RSS_LIMIT = 100
BATCH_RSS_LIMIT = 80


def ensure_curl():
    if shutil.which("curl"):
        return
    log("curl is missing: apt-get install -y curl")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    subprocess.run(prefix + ["apt-get", "install", "-y", "-q", "curl"], check=True, stdout=subprocess.DEVNULL)


def machine():
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        models = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
    with open("/proc/meminfo", encoding="utf-8") as handle:
        mem_kib = int(next(line.split()[1] for line in handle if line.startswith("MemTotal:")))
    from ansible.release import __version__ as ansible_core  # pylint: disable=import-outside-toplevel
    return {"cpu": models[0] if models else platform.processor() or "unknown", "cores": os.cpu_count(),
            "memory": "%.1f GiB" % (mem_kib / 1024 / 1024), "python": platform.python_version(),
            "ansible_core": ansible_core, "kernel": platform.release(), "load": "%.2f" % os.getloadavg()[0]}


# ---------------------------------------------------------------------------------------------------------- document


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def x(value):
    return "%.2fx" % value


def runs(values, fmt="%.2f"):
    return " / ".join(fmt % value for value in values)


def section_download(data):
    text = ["## 1. Download of one 1 GiB pcap\n",
            "A freshly staged 1 GiB pcap per download (SCS serves each once). `curl -s -o FILE -H 'Authorization: Token "
            "...'` is the physical limit; `pcap_download` is the collection's download path, run directly as its own "
            "process (Python start, streaming in 1 MiB chunks to a temporary file, fsync, pcap verification, sha256, "
            "rename); the vendor method is the vendor script's `download()` (no `stream=True`, so the whole body is "
            "read into memory first, then `iter_content(chunk_size=1024)` with a print per chunk, stdout to /dev/null). "
            "Over plain HTTP the emulator answers with `sendfile()`; the emulator CPU column is the CPU time of its "
            "gunicorn worker (utime+stime from /proc) over the wall time: it is not the bottleneck. Client CPU is "
            "user+system time of the client process. Times: median of the runs listed.\n"]
    rows = []
    for scheme in ("http", "https"):
        result = data[scheme]
        curl = result["curl"]
        for key, what in (("curl", "curl"), ("curl_sync", "for comparison: curl, then `sync FILE` (fsync: the module's durability)"),
                          ("module", "`stamus.scs.pcap_download` (module process)"), ("vendor", "vendor script method")):
            if key not in result:
                continue
            item = result[key]
            rows.append([scheme.upper(), what, "%.0f MiB/s" % item["mbps"], x(item["mbps"] / curl["mbps"]),
                         runs(item["runs"]) + " s", "%.1f s" % item["client_cpu"], "%.0f %%" % (100 * item["server_share"]),
                         "%.0f MiB" % item["rss"] if item["rss"] is not None else "-"])
    text.append(table(["scheme", "what", "throughput", "vs curl", "runs", "client CPU", "emulator CPU share",
                       "client peak RSS"], rows))
    http = data["http"]
    text.append("\nPeak resident memory of the `pcap_download` process (VmHWM from /proc/self/status, written at exit; "
                "the vendor row above is the same measure):\n\n")
    text.append(table(["what", "peak RSS", "vs limit (%d MiB)" % RSS_LIMIT, "vs 100 MiB file"], [
        ["`pcap_download`, 100 MiB pcap", "%.1f MiB" % http["module_100m"]["rss"], x(http["module_100m"]["rss"] / RSS_LIMIT), x(1)],
        ["`pcap_download`, 1 GiB pcap", "%.1f MiB" % http["module"]["rss"], x(http["module"]["rss"] / RSS_LIMIT),
         x(http["module"]["rss"] / http["module_100m"]["rss"])],
        ["vendor method, 1 GiB pcap", "%.0f MiB" % http["vendor"]["rss"], x(http["vendor"]["rss"] / RSS_LIMIT),
         "-"],
    ]))
    parts, module = http["breakdown"], http["module"]["seconds"]
    text.append("\nWhere the module's time goes (HTTP, 1 GiB): each part it does timed alone, once, on a fresh file "
                "(the module hashes on a second thread while it receives; the verification pass and the fsync follow "
                "the transfer):\n\n")
    text.append(table(["part", "time", "share of the module's %.2f s" % module], [
        ["receive only: requests, `iter_content(1 MiB)`, chunks discarded (Python start included)",
         "%.2f s" % parts["receive"], "%.0f %%" % (100 * parts["receive"] / module)],
        ["sha256 of the file (`_files.sha256_file`; the module hashes the chunks on the fly instead)",
         "%.2f s" % parts["sha256"], "%.0f %%" % (100 * parts["sha256"] / module)],
        ["pcap verification pass (`_pcapfile.summarize_pcap`: reads every record header back)",
         "%.2f s" % parts["verify"], "%.0f %%" % (100 * parts["verify"] / module)],
        ["fsync of the freshly written 1 GiB file", "%.2f s" % parts["fsync"], "%.0f %%" % (100 * parts["fsync"] / module)],
        ["curl, the whole download (for comparison)", "%.2f s" % http["curl"]["seconds"],
         "%.0f %%" % (100 * http["curl"]["seconds"] / module)],
        ["curl then `sync FILE` (for comparison)", "%.2f s" % http["curl_sync"]["seconds"],
         "%.0f %%" % (100 * http["curl_sync"]["seconds"] / module)],
    ]))
    return "\n".join(text)


def section_batch(data):
    alert_pcap, floor = data["alert_pcap"], data["floor"]
    base = alert_pcap["seconds"]
    text = ["## 2. Batch evidence pull: 500 alerts on 300 flows\n",
            "Emulator over HTTPS, seed fixed, conditional pcap on every probe, a store large enough that nothing rotates. "
            "Every alert has a capture file; alerts of one flow share its pcap, so there are 300 pcaps to fetch. "
            "`alert_pcap` and the floor client fetch each flow once (300 chains of upload, extract, retrieve, "
            "download); the step-module loop and the vendor script run one chain per alert (500 chains), as they are "
            "written. The loop and the vendor script are too slow for 500 alerts: each runs on two subsets of the "
            "same alerts and is extrapolated linearly to 500 (a line through the two points, its fixed part at least "
            "zero); the per-alert cost of the two subsets shows that the cost is flat. (a) and (d) take turns (a, d, a, d, "
            "...), %d runs each, median reported, so that the machine's noise hits both alike.\n" % batch.BATCH_REPEATS,
            table(["what", "time for 500 alerts", "per alert", "vs (a) alert_pcap", "measured"], [
                ["(a) `stamus.scs.alert_pcap`, one ansible-playbook task, `since: 30d`, workers 4", "%.1f s" % base,
                 "%.1f ms" % (1000 * base / batch.ALERTS), x(1), "runs %s s" % runs(alert_pcap["runs"], "%.1f")],
                steps_row("(b) step modules in an Ansible loop (`include_tasks`: upload, extract, retrieve, download)",
                          data["steps"], base),
                steps_row("(c) vendor script, once per alert", data["vendor"], base),
                ["(d) floor: requests + ThreadPoolExecutor(4), one chain per flow, 1 MiB chunks, no Ansible",
                 "%.1f s" % floor["seconds"], "%.1f ms" % (1000 * floor["seconds"] / batch.ALERTS),
                 x(floor["seconds"] / base), "runs %s s" % runs(floor["runs"], "%.1f")],
            ]),
            "\nEmulator worker CPU share during (a): %.0f %% of one core, during (d): %.0f %% (2 cores shared by the "
            "client, the emulator and everything else on the machine).\n" % (
                100 * alert_pcap["server_share"], 100 * floor["server_share"])]
    return "\n".join(text)


def steps_row(what, series, base):
    (n1, t1), (n2, t2) = series["points"]
    return [what, "%.0f s (extrapolated)" % series["seconds"], "%.0f ms" % (1000 * series["marginal"]),
            x(series["seconds"] / base), "%d alerts: %.1f s (%.2f s/alert); %d alerts: %.1f s (%.2f s/alert)" % (
                n1, t1, t1 / n1, n2, t2, t2 / n2)]


def section_single(data):
    ping, fetch, task, module = data["ping"], data["fetch"], data["task"], data["module"]
    rows = [["ping playbook (floor)", "%.2f s" % ping["seconds"], x(1), runs(ping["runs"]) + " s"],
            ["`playbooks/fetch_alert_pcap.yml`", "%.2f s" % fetch["seconds"], x(fetch["seconds"] / ping["seconds"]),
             runs(fetch["runs"]) + " s"],
            ["for comparison: a playbook of one `stamus.scs.alert_pcap` task (signature_id, flow_id, dest)",
             "%.2f s" % task["seconds"], x(task["seconds"] / ping["seconds"]), runs(task["runs"]) + " s"],
            ["for comparison: the `alert_pcap` module run directly as a process, no Ansible", "%.2f s" % module["seconds"],
             x(module["seconds"] / ping["seconds"]), runs(module["runs"]) + " s"]]
    tasks = [[name, "%.3f s" % seconds] for name, seconds in fetch["tasks"]]
    tasks += [["for comparison: the ping playbook's task `%s`" % name, "%.3f s" % seconds] for name, seconds in ping["tasks"]]
    return "\n".join(["## 3. One alert end to end\n",
                      "`ansible-playbook playbooks/fetch_alert_pcap.yml -e signature_id=... -e flow_id=... -e dest=...` "
                      "(a fresh dest each run, so it really fetches; %d requests to SCS) against a playbook of one "
                      "`ansible.builtin.ping` task on the implicit localhost, the floor of any Ansible run. Runs "
                      "alternate; median of %d each.\n" % (fetch["requests"], len(fetch["runs"])),
                      table(["what", "median", "vs ping playbook", "runs"], rows),
                      "\nWhere the time of `fetch_alert_pcap.yml` goes, per task (median; from task start to the next "
                      "task's start; Ansible's own start-up, about the ping playbook's time less its task, comes "
                      "before):\n",
                      table(["task", "time"], tasks)])


def section_fleet(data, ping):
    first, rerun = data["first"], data["rerun"]
    rows = [[label, item["requests"], item["reads"], item["writes"], "%.2f s" % item["seconds"],
             "%.2f s" % item["server_seconds"], item["changed"], x(item["requests"] / first["requests"])]
            for label, item in (("first run", first), ("rerun", rerun))]
    return "\n".join(["## 4. Fleet toggle: conditional pcap on every template\n",
                      "`stamus.scs.conditional_pcap` with `templates: [all]`, `state: enabled` in one ansible-playbook "
                      "task over an emulator with %d probes and %d templates, conditional pcap off everywhere. Requests "
                      "from the emulator's request log (reads: GET/OPTIONS; writes: the rest); server time is the sum "
                      "of the logged request durations. After the runs, %d of %d templates have the flag on.\n" % (
                          fleet.PROBES, fleet.TEMPLATES, data["templates_enabled"], fleet.TEMPLATES),
                      table(["run", "requests", "reads", "writes", "wall time", "server time", "changed",
                             "requests vs first run"], rows),
                      "\nRequests of the rerun: %s. The Ansible floor (the ping playbook, section 3) is %.2f s.\n" % (
                          ", ".join(rerun["methods"]), ping)])


def section_scaling(data, ping):
    base = next(item for item in data if item["alerts"] == 500)
    rows = [["%d alerts, %d flows" % (item["alerts"], item["flows"]), "%.1f s" % item["seconds"],
             "%.1f ms" % (1000 * item["per_alert"]), x(item["per_alert"] / base["per_alert"]),
             "%.1f ms" % (1000 * (item["seconds"] - ping) / item["alerts"]), "%.0f %%" % (100 * item["server_share"]),
             runs(item["runs"], "%.1f") + " s"] for item in data]
    return "\n".join(["## 5. Scaling of `alert_pcap`\n",
                      "One ansible-playbook task (`since: 30d`, workers 4, default page size and `results`, fresh dest), "
                      "emulator as in section 2 with flows = 60 %% of alerts, each size on its own emulator seeded before "
                      "the clock starts. The alerts are read oldest first, page by page, past SCS's 10,000-result window "
                      "(20,000 alerts: two windows), while the flows are fetched. \"Without Ansible floor\" subtracts "
                      "the ping playbook's %.2f s (section 3).\n" % ping,
                      table(["size", "time", "per alert", "per alert vs 500", "per alert without Ansible floor",
                             "emulator CPU share", "runs"], rows)])


def section_memory(data):
    rows = []
    for item in data:
        for mode, what in (("query", "query (`since: 30d`, `page_size: 1000`)"),
                           ("alerts_file", "`alerts_file` (NDJSON, %.0f MiB)" % item["file_mib"])):
            run = item[mode]
            rows.append(["%d alerts, %d flows" % (item["alerts"], run["flows"]), what, "%.1f MiB" % run["rss"],
                         x(run["rss"] / BATCH_RSS_LIMIT), "%.1f s" % run["seconds"],
                         "%d (%s)" % (run["listed"], run["results_listed"])])
    return "\n".join(["## 6. Memory of `alert_pcap` over large batches\n",
                      "`alert_pcap` run directly as its own process (peak RSS: VmHWM, written at exit), `results` left "
                      "at its default (`auto`: the problems only past 1,000 alerts, at most 1,000 listed). Each size "
                      "has its own emulator seeded with that many alerts less 10, conditional pcap off, so that they "
                      "cost reading, planning, spooling and reporting (outcome `no_capture`), then 10 new alerts on "
                      "probe-01 once its conditional pcap is applied, which are fetched. The file holds the same number "
                      "of full-size alerts (the 10 real ones last), one per line.\n",
                      table(["size", "alerts from", "peak RSS", "vs limit (%d MiB)" % BATCH_RSS_LIMIT, "time",
                             "results listed"], rows)])


# ------------------------------------------------------------------------------------------------------------ targets


def targets(results):
    http, bat, one = results["download"]["http"], results["batch"], results["single"]
    ratio_dl = http["module"]["mbps"] / http["curl"]["mbps"]
    rss = (http["module_100m"]["rss"], http["module"]["rss"])
    speed_b = bat["steps"]["seconds"] / bat["alert_pcap"]["seconds"]
    speed_c = bat["vendor"]["seconds"] / bat["alert_pcap"]["seconds"]
    vs_floor = bat["alert_pcap"]["seconds"] / bat["floor"]["seconds"]
    vs_ping = one["fetch"]["seconds"] / one["ping"]["seconds"]
    rerun = results["fleet"]["rerun"]
    scale = {item["alerts"]: item["per_alert"] for item in results["scaling"]}
    growth = scale[5000] / scale[500]
    growth_20k = scale[20000] / scale[500]
    batch_rss = [item[mode]["rss"] for item in results["memory"] for mode in ("query", "alerts_file")]
    ping_task = sum(seconds for _name, seconds in one["ping"]["tasks"])
    fetch_task = max(seconds for _name, seconds in one["fetch"]["tasks"])
    other_tasks = sum(seconds for _name, seconds in one["fetch"]["tasks"]) - fetch_task
    return [
        ("download throughput of `pcap_download` >= 0.8x curl (HTTP, 1 GiB)", x(ratio_dl), ratio_dl >= 0.8,
         "%.0f %% short (%.2f s against curl's %.2f s, so at most %.2f s allowed): the module does what curl does "
         "not: receive in Python (%.2f s alone), sha256 (%.2f s alone, overlapped with receiving on a second thread), a "
         "second pass reading every pcap record back (%.2f s) and fsync (%.2f s); see section 1" % (
             100 * (0.8 - ratio_dl) / 0.8, http["module"]["seconds"], http["curl"]["seconds"],
             http["curl"]["seconds"] / 0.8, http["breakdown"]["receive"], http["breakdown"]["sha256"],
             http["breakdown"]["verify"], http["breakdown"]["fsync"]) + (
             "; curl with the same fsync (`sync FILE`) takes %.2f s, so the module is %.2fx that" % (
                 http["curl_sync"]["seconds"], http["curl_sync"]["seconds"] / http["module"]["seconds"]))),
        ("peak RSS of `pcap_download` < %d MiB at 100 MiB and at 1 GiB" % RSS_LIMIT,
         "%.1f / %.1f MiB" % rss, max(rss) < RSS_LIMIT, "%.0f MiB over" % (max(rss) - RSS_LIMIT)),
        ("batch: (a) alert_pcap >= 10x faster than (b) the step-module loop", x(speed_b), speed_b >= 10,
         "%.1fx short" % (10 - speed_b)),
        ("batch: (a) alert_pcap >= 10x faster than (c) the vendor script", x(speed_c), speed_c >= 10,
         "%.1fx short: the vendor script costs %.0f ms per alert, alert_pcap %.0f ms per alert" % (
             10 - speed_c, 1000 * bat["vendor"]["marginal"], 1000 * bat["alert_pcap"]["seconds"] / batch.ALERTS)),
        ("batch: (a) alert_pcap <= 1.5x (d) the floor client's time", x(vs_floor), vs_floor <= 1.5,
         "%.0f %% over: %.1f s more than the floor, of which %.1f s is the Ansible floor (section 3)" % (
             100 * (vs_floor - 1.5) / 1.5, bat["alert_pcap"]["seconds"] - bat["floor"]["seconds"], one["ping"]["seconds"])),
        ("single alert: fetch_alert_pcap.yml <= 1.5x a ping playbook", x(vs_ping), vs_ping <= 1.5,
         "%.0f %% over: %.2f s above the Ansible floor, of which the alert_pcap task is %.2f s more than the ping "
         "task (the module run alone takes %.2f s, imports included) and the playbook's other tasks %.2f s; a "
         "playbook of the alert_pcap task alone is %.2fx the floor (section 3)" % (
             100 * (vs_ping - 1.5) / 1.5, one["fetch"]["seconds"] - one["ping"]["seconds"],
             fetch_task - ping_task, one["module"]["seconds"], other_tasks,
             one["task"]["seconds"] / one["ping"]["seconds"])),
        ("fleet rerun: zero writes and <= 5 requests", "%d writes, %d requests" % (rerun["writes"], rerun["requests"]),
         rerun["writes"] == 0 and rerun["requests"] <= 5, "%d writes, %d requests" % (rerun["writes"], rerun["requests"])),
        ("scaling: time per alert at 5,000 within 1.5x of that at 500", x(growth), growth <= 1.5,
         "%.0f %% over" % (100 * (growth - 1.5) / 1.5)),
        ("scaling: time per alert at 20,000 within 1.2x of that at 500", x(growth_20k), growth_20k <= 1.2,
         "%.0f %% over" % (100 * (growth_20k - 1.2) / 1.2)),
        ("memory: peak RSS of `alert_pcap` < %d MiB at 10,000 and 50,000 alerts, query and alerts_file" % BATCH_RSS_LIMIT,
         " / ".join("%.0f" % value for value in batch_rss) + " MiB", max(batch_rss) < BATCH_RSS_LIMIT,
         "%.0f MiB over" % (max(batch_rss) - BATCH_RSS_LIMIT)),
    ]


def write_doc(results, info, seconds):
    rows = [[what, measured, "pass" if met else "**miss**", "" if met else why]
            for what, measured, met, why in targets(results)]
    parts = [
        "# Benchmarks\n",
        "Generated by `make bench` (`tools/bench/run.py`) on %s UTC in %.1f minutes; do not edit by hand. Everything "
        "runs side by side in one run against the project's SCS emulator (`tests/emulator`) on the same machine, so "
        "the targets are ratios of measurements taken together. The machine is shared and noisy: short measurements "
        "are repeated and their median reported; absolute times vary from run to run, ratios much less.\n" % (
            time.strftime("%Y-%m-%d %H:%M", time.gmtime()), seconds / 60),
        table(["machine", ""], [["CPU", info["cpu"]], ["cores", info["cores"]], ["memory", info["memory"]],
                                ["Python", info["python"]], ["ansible-core", info["ansible_core"]],
                                ["kernel", info["kernel"]], ["load average (1 min) at start", info["load"]],
                                ["load average (1 min) at end", info["load_end"]]]),
        "## Targets\n",
        table(["target", "measured", "result", "miss: by how much and why"], rows),
        section_download(results["download"]),
        section_batch(results["batch"]),
        section_single(results["single"]),
        section_fleet(results["fleet"], results["single"]["ping"]["seconds"]),
        section_scaling(results["scaling"], results["single"]["ping"]["seconds"]),
        section_memory(results["memory"]),
    ]
    with open(DOC, "w", encoding="utf-8") as handle:
        handle.write(re.sub(r"\n{3,}", "\n\n", "\n".join(parts)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated sections among %s; prints JSON, writes no document" % ", ".join(SECTIONS))
    args = parser.parse_args()
    ensure_curl()
    info = machine()
    started = time.monotonic()
    names = args.only.split(",") if args.only else list(SECTIONS)
    results = {}
    for name in names:
        log("section %s" % name)
        results[name] = SECTIONS[name]()
    if args.only:
        print(json.dumps(results, indent=1))
        return
    info["load_end"] = "%.2f" % os.getloadavg()[0]
    rows = write_doc(results, info, time.monotonic() - started)
    log("wrote docs/benchmarks.md in %.1f min" % ((time.monotonic() - started) / 60))
    for what, measured, met, why in rows:
        print("%-4s %-70s %s %s" % (met.strip("*"), what, measured, why))


if __name__ == "__main__":
    main()
