# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fetch the pcaps of many alerts: upload -> extract -> retrieve -> download per flow, with bounded concurrency."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.stamus.scs.plugins.module_utils import _pcap as steps
from ansible_collections.stamus.scs.plugins.module_utils._alert_api import event_kind
from ansible_collections.stamus.scs.plugins.module_utils._errors import (
    ScsAuthenticationError,
    ScsError,
    ScsPermissionError,
    ScsServerError,
    ScsTransportError,
)
from ansible_collections.stamus.scs.plugins.module_utils._evidence import build_manifest, merge_alerts, plan_flows, utc_now
from ansible_collections.stamus.scs.plugins.module_utils._files import prepare_directory
from ansible_collections.stamus.scs.plugins.module_utils._pcapfile import PcapFormatError
from ansible_collections.stamus.scs.plugins.module_utils._text import printable

OUTCOMES = ("fetched", "present", "no_packets", "flow_absent", "rotated", "no_capture", "failed")
PCAP_FACT_KEYS = ("format", "linktype", "linktype_name", "packets", "bytes", "first_packet_time", "last_packet_time",
                  "flow_packets", "flow_present", "flow_encapsulation")
# A download is one-shot on SCS, so a broken transfer is retried by running the whole chain again.
CHAIN_ATTEMPTS = 2


class EmptyPcap(Exception):
    """SCS built a header-only pcap: no packet of the flow was in the probe's store."""

    def __init__(self, summary):
        super().__init__("header-only pcap")
        self.summary = summary


class FlowAbsent(Exception):
    """The pcap has packets, but none of the alert's 5-tuple (refused with on_flow_absent=fail)."""

    def __init__(self, summary):
        super().__init__("pcap without the alert's flow")
        self.summary = summary


def flow_absent(summary):
    """Packets, none of them of the alert's 5-tuple (False when that cannot be told: no usable 5-tuple or link type)."""
    return not summary["header_only"] and summary.get("flow_present") is False


def describe_flow(five_tuple):
    return "%s %s:%s <-> %s:%s" % (five_tuple.get("proto"), five_tuple.get("src_ip"), five_tuple.get("src_port"),
                                   five_tuple.get("dest_ip"), five_tuple.get("dest_port"))


class Outcome:
    def __init__(self, outcome, message=None, facts=None, changed=False):
        self.outcome = outcome
        self.message = message
        self.facts = facts or {}
        self.changed = changed


class EvidenceRun:
    """One alert_pcap run: plans the flows, fetches them with ``workers`` threads, reports per alert."""

    def __init__(self, client_factory, dest, force=False, on_empty="warn", mode=0o640, workers=4, context=None,
                 on_flow_absent="warn", download_limits=None):
        self._client_factory = client_factory
        self._local = threading.local()
        self.dest = dest
        self.force = force
        self.on_empty = on_empty
        self.on_flow_absent = on_flow_absent
        self.mode = mode
        self.workers = workers
        self.context = context or {}
        self.download_limits = download_limits or {}

    def _client(self):
        # One session per worker thread: requests sessions are not documented as thread-safe.
        if getattr(self._local, "client", None) is None:
            self._local.client = self._client_factory()
        return self._local.client

    def run(self, alerts):
        flows, rejected = plan_flows(alerts, self.dest)
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            outcomes = list(pool.map(self._fetch_flow_safely, flows))
        return self._report(flows, outcomes, rejected)

    def _fetch_flow_safely(self, flow):
        try:
            return self.fetch_flow(flow)
        except (ScsAuthenticationError, ScsPermissionError):
            raise  # the whole run is pointless: fail the task with this message
        except ScsError as err:
            return Outcome("failed", str(err))
        except OSError as err:
            return Outcome("failed", "Cannot write the evidence for flow %d of %s: %s (%s). Free space or fix the "
                                     "permissions of dest; nothing partial was kept." % (
                                         flow.flow_id, flow.probe, err.strerror or err, getattr(err, "filename", "") or ""))
        except Exception as err:  # pylint: disable=broad-exception-caught
            # One flow's bug must not lose the results of a thousand others, nor show a traceback (nor the token).
            return Outcome("failed", "Unexpected %s while fetching flow %d of %s: %s" % (
                type(err).__name__, flow.flow_id, flow.probe, self._scrub(err)))

    def _scrub(self, err):
        client = getattr(self._local, "client", None)
        return client.scrub(err) if client is not None else printable(err)

    def fetch_flow(self, flow):
        if not self.force:
            existing = flow.verified_existing()
            if existing is not None:
                changed = merge_alerts(existing, flow)
                if changed:
                    flow.write_manifest(existing, self.mode)
                return Outcome("present", facts=existing["pcap"], changed=changed)
        source = flow.source_alert()
        if source is None:
            return Outcome("no_capture", "The alert has no capture_file: conditional pcap was off on probe %s when it "
                                         "fired, so SCS holds no packets for it." % flow.probe)
        prepare_directory(flow.directory, self.mode, what="probe directory")
        for attempt in range(1, CHAIN_ATTEMPTS + 1):
            try:
                return self._chain(flow, source)
            except steps.ScsStepError as err:
                return Outcome("rotated" if err.rotated else "failed", str(err))
            except EmptyPcap as empty:
                return Outcome("no_packets", "SCS found no packet of flow %d in the pcap store of probe %s (header-only "
                                             "pcap); nothing was kept." % (flow.flow_id, flow.probe), facts=empty.summary)
            except FlowAbsent as absent:
                return Outcome("flow_absent", "SCS sent a pcap for flow %d of probe %s with %d packet(s), none of the "
                                              "alert's 5-tuple (%s); nothing was kept (on_flow_absent=fail)." % (
                                                  flow.flow_id, flow.probe, absent.summary["packets"],
                                                  describe_flow(flow.five_tuple())), facts=absent.summary)
            except PcapFormatError as err:
                return Outcome("failed", "SCS sent a file for flow %d that is not a valid pcap (%s); nothing was kept."
                               % (flow.flow_id, err))
            except (ScsTransportError, ScsServerError) as err:
                if attempt == CHAIN_ATTEMPTS:
                    return Outcome("failed", str(err))
        raise AssertionError("unreachable")  # pragma: no cover

    def _chain(self, flow, source):
        client = self._client()
        timeline = {}

        def step(name, call, *args, **kwargs):
            started = utc_now()
            result = call(*args, **kwargs)
            timeline[name] = {"started": started, "finished": utc_now()}
            return result

        filename = step("upload", steps.upload, client, source, flow.probe)
        step("extract", steps.extract, client, filename, flow.probe)
        step("retrieve", steps.retrieve, client, filename, flow.probe)

        def verify(summary):
            if summary["header_only"] and self.on_empty != "keep":
                raise EmptyPcap(summary)
            if flow_absent(summary) and self.on_flow_absent == "fail":
                raise FlowAbsent(summary)

        download = step("download", steps.download, client, filename, flow.pcap_path, mode=self.mode, verify=verify,
                        five_tuple=flow.five_tuple(), **self.download_limits)
        summary = download["pcap"]
        facts = {"file": os.path.basename(flow.pcap_path), "sha256": download["sha256"], "size": download["size"]}
        facts.update((key, summary.get(key)) for key in PCAP_FACT_KEYS)
        try:
            flow.write_manifest(build_manifest(flow, facts, self.context, timeline, source), self.mode)
        except BaseException:
            os.unlink(flow.pcap_path)  # a pcap without its custody manifest is not evidence
            raise
        if summary["header_only"]:
            return Outcome("no_packets", "Header-only pcap kept as asked (on_empty=keep).", facts=facts, changed=True)
        if flow_absent(summary):
            return Outcome("flow_absent", "The pcap of flow %d of probe %s holds %d packet(s), none of the alert's 5-tuple "
                                          "(%s): kept (on_flow_absent=%s); check that it is the right capture before "
                                          "relying on it." % (flow.flow_id, flow.probe, summary["packets"],
                                                              describe_flow(flow.five_tuple()), self.on_flow_absent),
                           facts=facts, changed=True)
        return Outcome("fetched", facts=facts, changed=True)

    def _report(self, flows, outcomes, rejected):
        results = []
        for flow, outcome in zip(flows, outcomes):
            kept = outcome.outcome in ("fetched", "present", "no_packets", "flow_absent") and os.path.exists(flow.pcap_path)
            for alert in flow.alerts:
                results.append(_alert_result(alert, outcome.outcome, outcome.message, outcome.facts, probe=flow.probe,
                                             pcap=flow.pcap_path if kept else None,
                                             manifest=flow.manifest_path if kept and os.path.exists(flow.manifest_path) else None))
        for alert, reason in rejected:
            results.append(_alert_result(alert if isinstance(alert, dict) else {}, "failed", reason, {}))
        summary = {name: sum(1 for result in results if result["outcome"] == name) for name in OUTCOMES}
        summary.update(alerts=len(results), flows=len(flows))
        return {"changed": any(outcome.changed for outcome in outcomes), "results": results, "summary": summary}


def _alert_result(alert, outcome, message, facts, probe=None, pcap=None, manifest=None):
    return {
        "alert_id": alert.get("_id"), "probe": probe or alert.get("host"), "flow_id": alert.get("flow_id"),
        "kind": event_kind(alert) if alert else None,
        "outcome": outcome, "message": message, "pcap": pcap, "manifest": manifest,
        "sha256": facts.get("sha256"), "size": facts.get("size"), "packets": facts.get("packets"),
        "flow_present": facts.get("flow_present"), "flow_encapsulation": facts.get("flow_encapsulation"),
    }
