# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fetch the pcaps of many alerts, streaming: upload -> extract -> retrieve -> download per flow, with bounded
concurrency and flat memory.

The alerts are read one at a time. A flow's fetch goes to the workers at the alert it is extracted with (its first
alert with a capture file, or for a source read twice the earliest one); every alert is appended to the run's spool
(a temporary file), so memory holds one small object per flow and a bounded queue. Once every alert is read and every
fetch is done, each flow's later alerts are merged into its manifest and its results are counted and, as far as
``results`` asks, listed.
"""

from __future__ import annotations

import collections
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

from ansible_collections.stamus.scs.plugins.module_utils import _pcap_steps as steps
from ansible_collections.stamus.scs.plugins.module_utils._alert_api import event_kind
from ansible_collections.stamus.scs.plugins.module_utils._alert_stream import ListSource
from ansible_collections.stamus.scs.plugins.module_utils._alert_table import alert_flow, alert_time
from ansible_collections.stamus.scs.plugins.module_utils._errors import (
    ScsAuthenticationError,
    ScsError,
    ScsPermissionError,
    ScsServerError,
    ScsTransportError,
)
from ansible_collections.stamus.scs.plugins.module_utils._evidence import (
    FlowEvidence,
    Rejected,
    build_manifest,
    flow_key,
    unique_alerts,
    utc_now,
)
from ansible_collections.stamus.scs.plugins.module_utils._files import os_error_text, prepare_directory
from ansible_collections.stamus.scs.plugins.module_utils._flow_artifacts import (
    FILE_OUTCOMES,
    Fetched,
    FlowArtifacts,
    discard,
    missing,
)
from ansible_collections.stamus.scs.plugins.module_utils._pcap_verify import PcapFormatError
from ansible_collections.stamus.scs.plugins.module_utils._pcapng_annotate import AnnotatedRefresh, annotate_flow
from ansible_collections.stamus.scs.plugins.module_utils._signing import SigningError
from ansible_collections.stamus.scs.plugins.module_utils._spool import AlertSpool
from ansible_collections.stamus.scs.plugins.module_utils._text import printable

OUTCOMES = ("fetched", "present", "no_packets", "flow_absent", "rotated", "no_capture", "failed")
# Outcomes with the pcap and its manifest on disk.
KEPT = ("fetched", "present", "no_packets", "flow_absent")
# Outcomes that are not problems (fetch: what check mode would fetch).
FINE = ("fetched", "present", "fetch")
PCAP_FACT_KEYS = ("format", "linktype", "linktype_name", "packets", "bytes", "first_packet_time", "last_packet_time",
                  "flow_packets", "flow_present", "flow_encapsulation")
# The facts of a pcap each of its alerts' results shows.
RESULT_FACT_KEYS = ("sha256", "size", "packets", "flow_present", "flow_encapsulation")
# A download is one-shot on SCS, so a broken transfer is retried by running the whole chain again.
CHAIN_ATTEMPTS = 2
RESULTS_MODES = ("auto", "all", "problems", "none")
# results=auto lists every alert of a run of at most this many alerts, and only the problems of a larger one.
RESULTS_ALL_UP_TO = 1000
# The most alerts results lists when it lists problems only (the summary counts them all).
MAX_LISTED_PROBLEMS = 1000
# Flows waiting for a worker, per worker: how far reading alerts may run ahead of fetching.
QUEUED_PER_WORKER = 2
# Longest signature text kept in a result.
SIGNATURE_CHARS = 512


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
    five_tuple = five_tuple or {}
    return "%s %s:%s <-> %s:%s" % (five_tuple.get("proto"), five_tuple.get("src_ip"), five_tuple.get("src_port"),
                                   five_tuple.get("dest_ip"), five_tuple.get("dest_port"))


class Outcome:
    def __init__(self, outcome, message=None, facts=None, changed=False):
        self.outcome = outcome
        self.message = message
        self.facts = facts or {}
        self.changed = changed


class Listing:
    """The per-alert results a run returns, as far as ``mode`` asks: every alert (``all``), the alerts whose outcome is
    a problem (``problems``, at most MAX_LISTED_PROBLEMS of them), none (``none``), or ``auto``: all for a run of at
    most RESULTS_ALL_UP_TO alerts, else problems."""

    def __init__(self, mode):
        self.mode = mode
        self.shown = None if mode == "auto" else mode
        self.flows, self.rejected = [], []
        self.unlisted = 0
        self.notes = []

    def choose(self, expected):
        """Settle ``auto`` for a run of about ``expected`` alerts (before the first is fetched)."""
        if self.shown is None:
            self.shown = "all" if expected <= RESULTS_ALL_UP_TO else "problems"
            if self.shown == "problems":
                self.notes.append("The run has more than %d alerts (%s): results lists only the alerts whose outcome "
                                  "is not fetched or present, at most %d (results=auto); the summary counts them all. "
                                  "Set results=all to list every alert, or results=problems to say so." % (
                                      RESULTS_ALL_UP_TO, "at least %d" % expected if expected >= 10000 else expected,
                                      MAX_LISTED_PROBLEMS))

    def lists(self, outcome):
        return self.shown == "all" or (self.shown == "problems" and outcome not in FINE)

    def add(self, entries, entry):
        if self.shown == "problems" and len(self.flows) + len(self.rejected) >= MAX_LISTED_PROBLEMS:
            self.unlisted += 1
        else:
            entries.append(entry)

    def results(self):
        if self.unlisted:
            self.notes.append("%d more alert(s) with a problem are not listed in results (at most %d are); the summary "
                              "counts them all and the task's message quotes the first failure." % (
                                  self.unlisted, MAX_LISTED_PROBLEMS))
        return self.flows + self.rejected


class Dispatcher:
    """Hands fetches to a pool, at most ``limit`` waiting at once (the reader waits for a free place), and keeps the
    first error a fetch raised (a refused token: the whole run is pointless)."""

    def __init__(self, pool, limit):
        self.pool = pool
        self.places = threading.BoundedSemaphore(limit)
        self.pending = set()
        self.lock = threading.Lock()
        self.error = None

    def submit(self, call, *args):
        self.check()
        self.places.acquire()  # pylint: disable=consider-using-with
        future = self.pool.submit(call, *args)
        with self.lock:
            self.pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future):
        with self.lock:
            self.pending.discard(future)
            if not future.cancelled() and future.exception() is not None and self.error is None:
                self.error = future.exception()
        self.places.release()

    def check(self):
        if self.error is not None:
            raise self.error

    def drain(self):
        with self.lock:
            pending = list(self.pending)
        wait(pending)
        self.check()


class EvidenceRun:  # pylint: disable=too-many-instance-attributes
    """One alert_pcap run: reads the alerts, fetches their flows with ``workers`` threads, reports per alert."""

    def __init__(self, client_factory, dest, force=False, on_empty="warn", mode=0o640, workers=4, context=None,
                 on_flow_absent="warn", download_limits=None, results="auto", check_mode=False, annotated=False,
                 signer=None, artifacts=None):
        self._client_factory = client_factory
        self._local = threading.local()
        self.dest = dest
        self.force = force
        self.on_empty = on_empty
        self.on_flow_absent = on_flow_absent
        self.mode = mode
        self.workers = workers
        self.context = context or {}  # or a function that returns it, called once the alerts can be read
        self.download_limits = download_limits or {}
        self.results_mode = results
        self.check_mode = check_mode
        self.annotated = annotated  # write <flow_id>.annotated.pcapng beside each pcap kept (see _pcapng_annotate)
        self.signer = signer  # of _signing, or None: manifests are written unsigned
        # What to fetch beside each pcap (an _flow_artifacts.ArtifactOptions), and how it went.
        self.artifacts = FlowArtifacts(artifacts, mode) if artifacts is not None and artifacts.wanted else None
        self.artifact_tally = collections.Counter()
        self._tally_lock = threading.Lock()
        self.flows = {}
        self.probes = {}
        self.spool = None
        self.listing = None
        self.counts = None
        self.first_failure = None  # of a flow, in the order of the flows
        self.first_rejected = None  # of an alert that could not be used

    def _client(self):
        # One session per worker thread: requests sessions are not documented as thread-safe.
        if getattr(self._local, "client", None) is None:
            self._local.client = self._client_factory()
        return self._local.client

    # -- reading -----------------------------------------------------------------------------------------------

    def run(self, source):
        """Fetch the flows of ``source``'s alerts (an alert source of _alert_stream, or a list of alerts); return the
        module's result: ``changed``, ``results``, ``summary`` and ``notes`` (warnings to show)."""
        if isinstance(source, list):
            source = ListSource(source)
        self.flows, self.probes = {}, {}
        self.listing = Listing(self.results_mode)
        self.counts = collections.Counter()
        self.first_failure = self.first_rejected = None
        with AlertSpool() as spool, \
                ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            self.spool = spool
            try:
                self._read(source, Dispatcher(pool, max(1, self.workers) * QUEUED_PER_WORKER))
                return self._finish(pool)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    def _read(self, source, dispatcher):
        if not source.ordered:
            self.listing.choose(self._plan(source))
        for raw, where in source:
            if self.listing.shown is None:
                self.listing.choose(source.expected or 0)
            try:
                alert, key = flow_key(raw)
            except Rejected as err:
                self._reject(raw, where, str(err))
                continue
            flow = self._flow(key)
            self.spool.append(flow, alert)
            if flow.dispatched or not (alert.get("capture_file") if source.ordered else alert["_id"] == flow.source_id):
                continue
            flow.dispatched, flow.source_time, flow.source_id = True, None, None
            if not self.check_mode:
                self._resolve_context()
                dispatcher.submit(self._fetch_flow_safely, flow, alert)
        if self.listing.shown is None:
            self.listing.choose(0)
        dispatcher.drain()
        if not self.check_mode:
            self._resolve_context()

    def _resolve_context(self):
        # Asked for once the alerts are being read: a file with a broken alert fails before any call to SCS.
        if callable(self.context):
            self.context = self.context()

    def _plan(self, source):
        """First pass over a source that can be read twice: the flows, and the alert each is extracted with (the
        earliest with a capture file). Returns how many alerts there are."""
        count = 0
        for raw, _where in source:
            count += 1
            try:
                alert, key = flow_key(raw)
            except Rejected:
                continue
            self._flow(key).consider_source(alert)
        return count

    def _flow(self, key):
        flow = self.flows.get(key)
        if flow is None:
            probe = self.probes.setdefault(key[0], key[0])  # one string per probe name, not one per flow
            flow = self.flows[key] = FlowEvidence(self.dest, probe, key[1], signer=self.signer)
        return flow

    def _reject(self, raw, where, reason):
        message = "%s: %s" % (where, reason) if where else reason
        self.counts["failed"] += 1
        self.counts["alerts"] += 1
        if self.first_rejected is None:
            self.first_rejected = message
        if self.listing.lists("failed"):
            alert = raw if isinstance(raw, dict) else {}
            self.listing.add(self.listing.rejected, alert_result(alert, "failed", message, None, probe=alert.get("host")))

    # -- fetching ----------------------------------------------------------------------------------------------

    def _fetch_flow_safely(self, flow, source):
        flow.source = source
        try:
            outcome = self._guarded(self.fetch_flow, flow)
        finally:
            flow.source = None
        self._settle(flow, outcome)

    def _guarded(self, call, flow):
        """``call(flow)``, or the Outcome of the error it raised (a refused token is raised)."""
        try:
            return call(flow)
        except (ScsAuthenticationError, ScsPermissionError):
            raise  # the whole run is pointless: fail the task with this message
        except ScsError as err:
            return Outcome("failed", str(err))
        except OSError as err:
            return Outcome("failed", "Cannot write the evidence for flow %d of %s: %s. Free space or fix the "
                                     "permissions of dest; nothing partial was kept." % (
                                         flow.flow_id, flow.probe, os_error_text(err)))
        except Exception as err:  # pylint: disable=broad-exception-caught
            # One flow's bug must not lose the results of a thousand others, nor show a traceback (nor the token).
            return Outcome("failed", "Unexpected %s while fetching flow %d of %s: %s" % (
                type(err).__name__, flow.flow_id, flow.probe, self._scrub(err)))

    def _scrub(self, err):
        client = getattr(self._local, "client", None)
        return client.scrub(err) if client is not None else printable(err)

    def _settle(self, flow, outcome):
        flow.outcome, flow.message, flow.changed = outcome.outcome, outcome.message, flow.changed or outcome.changed
        # The facts are only kept for the flows whose results are listed: memory holds counters for the others.
        flow.facts = tuple(outcome.facts.get(key) for key in RESULT_FACT_KEYS) if self.listing.lists(outcome.outcome) else None

    def fetch_flow(self, flow):
        """Fetch the pcap of ``flow`` with its ``source`` alert, unless a verified one is already on disk."""
        if not self.force:
            existing = flow.verified_existing()
            if existing is not None:
                if self.artifacts is not None and missing(flow.directory, flow.flow_id, existing, self.artifacts.options):
                    return self._complete(flow, existing)
                return Outcome("present", facts=existing["pcap"])
        source = flow.source
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

        def accept(summary):
            if summary["header_only"] and self.on_empty != "keep":
                raise EmptyPcap(summary)
            if flow_absent(summary) and self.on_flow_absent == "fail":
                raise FlowAbsent(summary)

        download = step("download", steps.download, client, filename, flow.pcap_path, mode=self.mode, accept=accept,
                        five_tuple=flow.five_tuple(), **self.download_limits)
        summary = download["pcap"]
        facts = {"file": os.path.basename(flow.pcap_path), "sha256": download["sha256"], "size": download["size"]}
        facts.update((key, summary.get(key)) for key in PCAP_FACT_KEYS)
        places = self.spool.entries(flow)
        listed = set()
        members = {}
        try:
            artifacts = self._fetch_artifacts(client, flow, source)
            members = dict(artifacts.members)
            if self.annotated:
                members["annotated"] = annotate_flow(flow, unique_alerts(self.spool.read(places), set()),
                                                     facts["sha256"], self.mode)
            manifest = build_manifest(flow, facts, self.context, timeline, source, members)
            flow.write_manifest(manifest, unique_alerts(self.spool.read(places), listed), self.mode)
        except BaseException:
            os.unlink(flow.pcap_path)  # a pcap without its custody manifest is not evidence
            discard(flow.directory, members)
            raise
        flow.written, flow.unique = len(places), len(listed)
        if artifacts.problems:
            return Outcome("fetched", artifact_message(flow, artifacts.problems), facts=facts, changed=True)
        if summary["header_only"]:
            return Outcome("no_packets", "Header-only pcap kept as asked (on_empty=keep).", facts=facts, changed=True)
        if flow_absent(summary):
            return Outcome("flow_absent", "The pcap of flow %d of probe %s holds %d packet(s), none of the alert's 5-tuple "
                                          "(%s): kept (on_flow_absent=%s); check that it is the right capture before "
                                          "relying on it." % (flow.flow_id, flow.probe, summary["packets"],
                                                              describe_flow(flow.five_tuple()), self.on_flow_absent),
                           facts=facts, changed=True)
        return Outcome("fetched", facts=facts, changed=True)

    def _fetch_artifacts(self, client, flow, source):
        """The flow's events and files (_flow_artifacts.Fetched; nothing in check mode or when none is asked for)."""
        if self.artifacts is None:
            return Fetched()
        fetched = self.artifacts.fetch(client, flow, source)
        with self._tally_lock:
            self.artifact_tally.update(fetched.tally)
        return fetched

    def _complete(self, flow, existing):
        """A present pcap whose manifest lacks an artifact asked for: fetch the artifacts and rewrite the manifest."""
        flow.check_before_rewrite(existing)
        fetched = self._fetch_artifacts(self._client(), flow, flow.source)
        manifest = dict(existing, recorded=utc_now(), **fetched.members)
        try:
            flow.write_manifest(manifest, flow.manifest_alerts(), self.mode)
        except BaseException:
            discard(flow.directory, fetched.members)  # not listed by any manifest: not evidence
            raise
        return Outcome("present", artifact_message(flow, fetched.problems) if fetched.problems else None,
                       facts=existing["pcap"], changed=True)

    def artifact_summary(self):
        """summary.flow_events and summary.files: how many flows got their events, and the files by outcome."""
        tally = self.artifact_tally
        return {"flow_events": {name: tally["flow_events." + name] for name in ("fetched", "failed")},
                "files": {name: tally["files." + name] for name in FILE_OUTCOMES}}

    # -- finishing ---------------------------------------------------------------------------------------------

    def _finish(self, pool):
        """Merge each flow's later alerts into its manifest and count (and list) its results, flow after flow in the
        order they were first seen; the flows that need the disk are done by the workers, a bounded window ahead."""
        window = collections.deque()
        for flow in self.flows.values():
            window.append(pool.submit(self._close_flow, flow) if self._needs_disk(flow) else flow)
            while len(window) > max(1, self.workers) * QUEUED_PER_WORKER:
                self._collect(window.popleft())
        while window:
            self._collect(window.popleft())
        summary = {name: self.counts[name] for name in OUTCOMES + ("fetch",)}  # fetch: check mode's, 0 in a real run
        summary.update(alerts=self.counts["alerts"], flows=len(self.flows), **self.artifact_summary())
        lost = sum(summary["files"][name] for name in FILE_OUTCOMES if name != "fetched") + summary["flow_events"]["failed"]
        if lost:
            self.listing.notes.append("%d event set(s) or extracted file(s) could not be kept; their pcaps are, and "
                                      "the manifests and results say why (summary.flow_events, summary.files)." % lost)
        results = self.listing.results()
        changed = self.counts["fetch"] > 0 if self.check_mode else any(flow.changed for flow in self.flows.values())
        return {"changed": changed, "results": results, "summary": summary, "results_listed": self.listing.shown,
                "results_unlisted": self.listing.unlisted, "first_failure": self.first_failure or self.first_rejected,
                "notes": self.listing.notes}

    def _needs_disk(self, flow):
        return self.check_mode or flow.outcome is None or (flow.outcome in KEPT and flow.count > flow.written)

    def _collect(self, item):
        flow, entries, unique = item.result() if not isinstance(item, FlowEvidence) else self._close_flow(item)
        self.counts[flow.outcome] += unique
        self.counts["alerts"] += unique
        if self.first_failure is None and flow.outcome in self.failing and flow.message:
            self.first_failure = flow.message
        for entry in entries:
            self.listing.add(self.listing.flows, entry)

    @property
    def failing(self):
        return failing_outcomes(self.on_empty, self.on_flow_absent)

    def _close_flow(self, flow):
        """Settle a flow that was not fetched, merge its later alerts into its manifest; return ``(flow, the results
        of its alerts to list, how many different alerts it has)``."""
        if self.check_mode or flow.outcome is None:
            self._settle(flow, self._guarded(self._not_fetched, flow))
        kept = flow.outcome in KEPT and not self.check_mode and os.path.exists(flow.pcap_path)
        if kept and flow.count > flow.written:
            self._merge(flow)
        listed = self.listing.lists(flow.outcome)
        if not listed and flow.count == flow.written:
            return flow, [], flow.unique
        places = self.spool.entries(flow)
        entries, seen = [], set()
        pcap = flow.pcap_path if kept or (self.check_mode and flow.outcome in ("fetch", "present")) else None
        manifest = flow.manifest_path if kept and os.path.exists(flow.manifest_path) else None
        facts = dict(zip(RESULT_FACT_KEYS, flow.facts or ()))
        for alert in unique_alerts(self.spool.read(places), seen):
            if listed:
                entries.append(alert_result(alert, flow.outcome, flow.message, facts, probe=flow.probe, pcap=pcap,
                                            manifest=manifest))
        return flow, entries, len(seen)

    def _not_fetched(self, flow):
        """The outcome of a flow that was not fetched: there is no alert to extract it with, or check mode."""
        existing = None if self.force else flow.verified_existing()
        if existing is not None:
            return Outcome("present", facts=existing["pcap"])
        if self.check_mode and flow.dispatched:
            return Outcome("fetch")
        return Outcome("no_capture", "The alert has no capture_file: conditional pcap was off on probe %s when it "
                                     "fired, so SCS holds no packets for it." % flow.probe)

    def _merge(self, flow):
        refresh = AnnotatedRefresh(flow, self.mode) if self.annotated else None
        try:
            added = flow.merge(lambda: self.spool.read(self.spool.entries(flow)), self.mode, update=refresh)
        except OSError as err:
            self._settle(flow, Outcome("failed", "The pcap of flow %d of %s is kept, but its manifest%s could not list "
                                                 "the flow's other alerts: %s. Free space or fix the permissions of "
                                                 "dest and run again." % (flow.flow_id, flow.probe,
                                                                          " and its annotated copy" if refresh else "",
                                                                          os_error_text(err))))
            return
        except SigningError as err:
            self._settle(flow, Outcome("failed", "The pcap of flow %d of %s is kept with its earlier manifest, which "
                                                 "does not list the flow's other alerts: %s" % (flow.flow_id, flow.probe, err)))
            return
        except ScsError as err:  # the annotated copy could not be made
            self._settle(flow, Outcome("failed", "%s The pcap of flow %d of %s is kept with its manifest." % (
                err, flow.flow_id, flow.probe)))
            return
        if added or (refresh is not None and refresh.written):
            flow.changed = True


def artifact_message(flow, problems):
    """The warning of a flow whose pcap is kept but some of its events or files are not."""
    return "The pcap of flow %d of %s is kept; %d of its artifact(s) are not: %s%s" % (
        flow.flow_id, flow.probe, len(problems), problems[0], " (and more, see its manifest)" if len(problems) > 1 else "")


def failing_outcomes(on_empty, on_flow_absent):
    """The outcomes that count as failures for fail_on."""
    return (("failed",) + (("no_packets",) if on_empty == "fail" else ())
            + (("flow_absent",) if on_flow_absent == "fail" else ()))


def alert_result(alert, outcome, message, facts, probe=None, pcap=None, manifest=None):
    """One entry of results: an alert, what happened to its flow, and its pcap's facts."""
    facts = facts or {}
    signature = alert.get("alert") if isinstance(alert.get("alert"), dict) else {}
    text = signature.get("signature")
    return {
        "alert_id": alert.get("_id"), "probe": probe or alert.get("host"), "flow_id": alert.get("flow_id"),
        "kind": event_kind(alert) if alert else None,
        "time": alert_time(alert) if alert else None, "five_tuple": alert_flow(alert) if alert else None,
        "signature_id": signature.get("signature_id"),
        "signature": printable(text)[:SIGNATURE_CHARS] if isinstance(text, str) else None,
        "outcome": outcome, "message": message, "pcap": pcap, "manifest": manifest,
        "sha256": facts.get("sha256"), "size": facts.get("size"), "packets": facts.get("packets"),
        "flow_present": facts.get("flow_present"), "flow_encapsulation": facts.get("flow_encapsulation"),
    }
