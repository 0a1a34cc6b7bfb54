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
RSS_LIMIT = 64
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
            "...'` is the physical limit; curl then `sync FILE` has the module's durability; the raw Python receive loop "
            "sends the GET by hand and receives the body with `recv_into` into one 1 MiB buffer, writing nothing (what "
            "Python itself receives at). `pcap_download` is the collection's download path, run directly as its own "
            "process (Python start, then the body received into a ring of 4 MiB buffers that a writer, a hasher and the "
            "pcap verifier take on their own threads, write-back started every 32 MiB during the transfer, fsync, "
            "rename); the vendor method is the vendor script's `download()` (no `stream=True`, so the whole body is "
            "read into memory first, then `iter_content(chunk_size=1024)` with a print per chunk, stdout to /dev/null). "
            "curl, `pcap_download`, curl then sync and the raw loop take turns, %d rounds; times are the median run "
            "of each. Over plain HTTP the emulator answers with `sendfile()`; the emulator CPU column is the CPU time of "
            "its gunicorn worker (utime+stime from /proc) over the wall time. Client CPU is user+system time of the "
            "client process. 1-minute load average before and after the alternating runs: HTTP %.2f / %.2f, HTTPS "
            "%.2f / %.2f (%s cores, shared with whatever else runs on the machine).\n" % (
                len(data["http"]["module"]["runs"]), data["http"]["load"][0], data["http"]["load"][1],
                data["https"]["load"][0], data["https"]["load"][1], os.cpu_count())]
    rows = []
    for scheme in ("http", "https"):
        result = data[scheme]
        curl, durable = result["curl"], result["curl_sync"]
        for key, what in (("curl", "curl"), ("curl_sync", "curl, then `sync FILE` (fsync: the module's durability)"),
                          ("raw", "raw Python receive loop (`recv_into`, nothing written)"),
                          ("module", "`stamus.scs.pcap_download` (module process)"), ("vendor", "vendor script method")):
            item = result[key]
            rows.append([scheme.upper(), what, "%.0f MiB/s" % item["mbps"], x(item["mbps"] / curl["mbps"]),
                         x(item["mbps"] / durable["mbps"]), runs(item["runs"]) + " s", "%.1f s" % item["client_cpu"],
                         "%.0f %%" % (100 * item["server_share"]),
                         "%.0f MiB" % item["rss"] if item["rss"] is not None else "-"])
    text.append(table(["scheme", "what", "throughput", "vs curl", "vs curl then sync", "runs", "client CPU",
                       "emulator CPU share", "client peak RSS"], rows))
    http, https = data["http"], data["https"]
    text.append("\nPeak resident memory of the `pcap_download` process (VmHWM from /proc/self/status, written at exit; "
                "median of its runs; the vendor row is the same measure), and its time for a header-only pcap (24 "
                "bytes): its fixed cost, Python start and one request:\n\n")
    text.append(table(["what", "peak RSS", "vs limit (%d MiB)" % RSS_LIMIT, "vs 100 MiB file", "time"], [
        ["`pcap_download`, 24-byte pcap (HTTP / HTTPS)", "%.1f / %.1f MiB" % (http["module_tiny"]["rss"], https["module_tiny"]["rss"]),
         x(max(http["module_tiny"]["rss"], https["module_tiny"]["rss"]) / RSS_LIMIT), "-",
         "%.2f / %.2f s" % (http["module_tiny"]["seconds"], https["module_tiny"]["seconds"])],
        ["`pcap_download`, 100 MiB pcap (HTTP / HTTPS)", "%.1f / %.1f MiB" % (http["module_100m"]["rss"], https["module_100m"]["rss"]),
         x(max(http["module_100m"]["rss"], https["module_100m"]["rss"]) / RSS_LIMIT), x(1),
         "%.2f / %.2f s" % (http["module_100m"]["seconds"], https["module_100m"]["seconds"])],
        ["`pcap_download`, 1 GiB pcap (HTTP / HTTPS)", "%.1f / %.1f MiB" % (http["module"]["rss"], https["module"]["rss"]),
         x(max(http["module"]["rss"], https["module"]["rss"]) / RSS_LIMIT),
         x(http["module"]["rss"] / http["module_100m"]["rss"]),
         "%.2f / %.2f s" % (http["module"]["seconds"], https["module"]["seconds"])],
        ["vendor method, 1 GiB pcap (HTTP)", "%.0f MiB" % http["vendor"]["rss"], x(http["vendor"]["rss"] / RSS_LIMIT),
         "-", "%.2f s" % http["vendor"]["seconds"]],
    ]))
    parts, module = http["breakdown"], http["module"]["seconds"]
    text.append("\nWhat the module's work costs, each part timed alone, once, on a fresh 1 GiB file (HTTP). The module "
                "does them at once: the receiving thread, the writer (os.write), the hasher (sha256) and the verifier "
                "overlap on a ring of buffers, write-back runs during the transfer so the final fsync is short, and the "
                "file is never read back:\n\n")
    text.append(table(["part", "time", "share of the module's %.2f s" % module], [
        ["receive only: requests, `iter_content(1 MiB)`, chunks discarded (Python start included)",
         "%.2f s" % parts["receive"], "%.0f %%" % (100 * parts["receive"] / module)],
        ["receive only: the raw Python loop above (median)", "%.2f s" % http["raw"]["seconds"],
         "%.0f %%" % (100 * http["raw"]["seconds"] / module)],
        ["sha256 of the file (`_files.sha256_file`)", "%.2f s" % parts["sha256"], "%.0f %%" % (100 * parts["sha256"] / module)],
        ["pcap verification of the file (`_pcap_verify.summarize_pcap`: the streaming verifier fed the file)",
         "%.2f s" % parts["verify"], "%.0f %%" % (100 * parts["verify"] / module)],
        ["fsync of a freshly written 1 GiB file (no write-back before it)", "%.2f s" % parts["fsync"],
         "%.0f %%" % (100 * parts["fsync"] / module)],
        ["curl, the whole download (for comparison)", "%.2f s" % http["curl"]["seconds"],
         "%.0f %%" % (100 * http["curl"]["seconds"] / module)],
        ["curl then `sync FILE` (for comparison)", "%.2f s" % http["curl_sync"]["seconds"],
         "%.0f %%" % (100 * http["curl_sync"]["seconds"] / module)],
    ]))
    return "\n".join(text)


def download_targets(data):
    """The download targets of issue 13: (target, measured, met, why when missed)."""
    out = []
    for scheme, label, goal in (("http", "HTTP", 0.9), ("https", "HTTPS", 0.8)):
        result = data[scheme]
        module, curl, raw = result["module"], result["curl"], result["raw"]
        ratio = curl["seconds"] / module["seconds"]
        out.append(("download throughput of `pcap_download` >= %.1fx curl (%s, 1 GiB)" % (goal, label),
                    "%s (raw Python loop: %s)" % (x(ratio), x(curl["seconds"] / raw["seconds"])), ratio >= goal,
                    "%.0f %% short: %.2f s against curl's %.2f s, so at most %.2f s allowed; %.2f s of it is the "
                    "module's start (a 24-byte pcap takes that long); client CPU %.1f s against curl's %.1f s, emulator "
                    "CPU share %.0f %%; load average %.2f to %.2f during the runs; see section 1" % (
                        100 * (goal - ratio) / goal, module["seconds"], curl["seconds"], curl["seconds"] / goal,
                        result["module_tiny"]["seconds"], module["client_cpu"], curl["client_cpu"],
                        100 * module["server_share"], result["load"][0], result["load"][1])))
    durable = [data[scheme]["curl_sync"]["seconds"] / data[scheme]["module"]["seconds"] for scheme in ("http", "https")]
    out.append(("`pcap_download` >= 1.0x curl then fsync (HTTP / HTTPS, 1 GiB)", "%s / %s" % tuple(x(v) for v in durable),
                min(durable) >= 1.0, "%.0f %% short at worst: the module hashes and verifies what curl only writes" % (
                    100 * (1.0 - min(durable)))))
    rss = [max(data["http"][key]["rss"], data["https"][key]["rss"]) for key in ("module_tiny", "module_100m", "module")]
    out.append(("peak RSS of `pcap_download` < %d MiB for a 24-byte pcap, at 100 MiB and at 1 GiB" % RSS_LIMIT,
                "%.1f / %.1f / %.1f MiB" % tuple(rss), max(rss) < RSS_LIMIT, "%.0f MiB over" % (max(rss) - RSS_LIMIT)))
    return out


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
    bat, one = results["batch"], results["single"]
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
    return download_targets(results["download"]) + [
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
        if "download" in results:
            for what, measured, met, why in download_targets(results["download"]):
                print("%-4s %-70s %s %s" % ("pass" if met else "miss", what, measured, "" if met else why))
        return
    info["load_end"] = "%.2f" % os.getloadavg()[0]
    rows = write_doc(results, info, time.monotonic() - started)
    log("wrote docs/benchmarks.md in %.1f min" % ((time.monotonic() - started) / 60))
    for what, measured, met, why in rows:
        print("%-4s %-70s %s %s" % (met.strip("*"), what, measured, why))


if __name__ == "__main__":
    main()
