# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Evidence layout and custody manifests: ``<dest>/<probe>/<flow_id>.pcap`` beside ``<flow_id>.json``.

A manifest lists every alert of its flow, so it grows with the flow: it is written and read one alert at a time.
"""

from __future__ import annotations

import datetime
import json
import os
import re

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError
from ansible_collections.stamus.scs.plugins.module_utils._files import atomic_write_chunks, sha256_file
from ansible_collections.stamus.scs.plugins.module_utils._json_stream import JsonDocuments, JsonStreamError
from ansible_collections.stamus.scs.plugins.module_utils._pcap_steps import prepare_alert
from ansible_collections.stamus.scs.plugins.module_utils._pcap_verify import FlowFilter
from ansible_collections.stamus.scs.plugins.module_utils._signing import (
    check_before_resigning,
    sign_beside,
    signature_path,
    signed_by,
)
from ansible_collections.stamus.scs.plugins.module_utils._spool import Chain

MANIFEST_SCHEMA = "stamus.scs/evidence-manifest/v1"
# Probe names become directory names: one path segment, no dot-files, no traversal.
SAFE_DIRNAME_RE = re.compile(r"[0-9A-Za-z_][0-9A-Za-z_.@+-]*")  # whole string: fullmatch
FIVE_TUPLE_KEYS = ("src_ip", "src_port", "dest_ip", "dest_port", "proto")
# Alerts are written this many to a chunk of a manifest.
ALERTS_PER_CHUNK = 64


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Rejected(Exception):
    """An alert that cannot be filed as evidence; str() says why."""


def flow_key(raw):
    """``(alert, (probe, flow_id))`` for an alert (flat or an ES hit); Rejected when it cannot be filed as evidence."""
    try:
        alert, probe = prepare_alert(raw)
    except ScsConfigError as err:
        raise Rejected(str(err)) from None
    flow_id = alert.get("flow_id")
    if isinstance(flow_id, bool) or not isinstance(flow_id, int) or flow_id < 0:
        raise Rejected("The alert has no valid flow_id (got %r): it cannot be filed as evidence." % (flow_id,))
    if not SAFE_DIRNAME_RE.fullmatch(probe) or probe in (".", ".."):
        raise Rejected("The probe name %r cannot be used as a directory name." % probe)
    return alert, (probe, flow_id)


def alert_time(alert):
    """What orders the alerts of a flow in time (SCS writes @timestamp in one UTC ISO 8601 form)."""
    return str(alert.get("@timestamp", alert.get("timestamp", "")))


class FlowEvidence(Chain):
    """One flow on one probe in a run: its alerts share one pcap (the probe keeps one store per flow).

    One is held for every flow of a run, so it holds counters, not alerts: they are in the run's spool (the Chain
    part), and in the flow's manifest once written.
    """

    __slots__ = ("dest", "probe", "flow_id", "source_time", "source_id", "source", "dispatched", "written", "unique",
                 "outcome", "message", "facts", "changed", "signer")

    def __init__(self, dest, probe, flow_id, signer=None):
        super().__init__()
        self.dest = dest
        self.probe = probe
        self.flow_id = flow_id
        self.source_time = None  # when the alert to extract with is chosen before the fetch: its time and _id
        self.source_id = None
        self.source = None  # the alert the pcap is extracted with, while it is fetched
        self.dispatched = False
        self.written = 0  # spool entries of the flow that the manifest written by the fetch lists
        self.unique = 0  # how many different alerts those are
        self.outcome = None
        self.message = None
        self.facts = None
        self.changed = False
        self.signer = signer  # of _signing: each manifest written gets its detached signature

    @property
    def directory(self):
        return os.path.join(self.dest, self.probe)

    @property
    def pcap_path(self):
        return os.path.join(self.dest, self.probe, "%d.pcap" % self.flow_id)

    @property
    def manifest_path(self):
        return os.path.join(self.dest, self.probe, "%d.json" % self.flow_id)

    def five_tuple(self):
        return five_tuple_of(self.source) if self.source is not None else None

    def consider_source(self, alert):
        """Before a fetch: keep ``alert`` as the one to extract with if it is the earliest with a capture file so far
        (its capture file holds the most packets of the flow)."""
        if alert.get("capture_file"):
            when = alert_time(alert)
            if self.source_id is None or when < self.source_time:
                self.source_time, self.source_id = when, alert["_id"]

    def read_manifest(self, ids=None):
        """The manifest's members but its alerts, or None when it is missing or not a manifest; with ``ids`` (a set),
        the ``_id`` of each alert it lists is added to it."""
        documents = JsonDocuments(self.manifest_path)
        try:
            for _line, alert in documents:
                if ids is not None:
                    ids.add(alert.get("_id") if isinstance(alert, dict) else None)
        except (OSError, JsonStreamError):
            return None
        manifest = documents.others
        return manifest if isinstance(manifest, dict) and manifest.get("schema") == MANIFEST_SCHEMA else None

    def verified_existing(self):
        """The manifest (without its alerts) of an existing pcap whose sha256 still matches it, else None."""
        manifest = self.read_manifest()
        if manifest is None or not os.path.isfile(self.pcap_path):
            return None
        pcap = manifest.get("pcap")
        expected = pcap.get("sha256") if isinstance(pcap, dict) else None
        return manifest if expected and sha256_file(self.pcap_path) == expected else None

    def manifest_alerts(self):
        """The alerts an existing manifest lists, one at a time."""
        for _line, alert in JsonDocuments(self.manifest_path):
            yield alert

    def write_manifest(self, manifest, alerts, mode):
        """Write the manifest ``manifest`` (its members but alerts) listing ``alerts`` (an iterable) atomically; with a
        signer, its signature is written from the complete new manifest just before it takes its place (a failed
        signature leaves the previous manifest, or none). Without one, a signature of an earlier manifest is removed:
        it would no longer match."""
        manifest = {key: value for key, value in manifest.items() if key != "signed_by"}
        if self.signer is None:
            atomic_write_chunks(self.manifest_path, manifest_chunks(manifest, alerts), mode=mode)
            _remove(signature_path(self.manifest_path))
            return
        manifest["signed_by"] = signed_by(self.signer)
        signed = []

        def sign(part):
            sign_beside(self.signer, part, self.manifest_path, mode)
            signed.append(True)

        try:
            atomic_write_chunks(self.manifest_path, manifest_chunks(manifest, alerts), mode=mode, before_commit=sign)
        except OSError:
            if signed:  # the rename failed: the new signature matches no manifest
                _remove(signature_path(self.manifest_path))
            raise

    def check_before_rewrite(self, manifest):
        """With a signer, refuse to rewrite (and so re-sign) the manifest ``manifest`` read from disk when its
        signature does not hold: a changed manifest is never laundered by a later run."""
        if self.signer is not None:
            check_before_resigning(self.signer, self.manifest_path, manifest.get("signed_by"))

    def merge(self, alerts, mode, update=None):
        """Add to the existing manifest those of ``alerts()`` (a function returning an iterable, called twice) that it
        does not list yet; return how many were added (0 too when there is no manifest to add to).

        ``update(manifest, added, listed)``, when given, is called first with the manifest's members, how many alerts
        are added and a function returning every alert the manifest will list: it may change the members (the
        annotated copy) and returns whether to write the manifest even when no alert is added."""
        known = set()
        manifest = self.read_manifest(known)
        if manifest is None:
            return 0
        added = sum(1 for _alert in unique_alerts(alerts(), known))
        if added or update is not None:
            self.check_before_rewrite(manifest)

        def listed_alerts():
            listed = set()
            return _chain_iterables(unique_alerts(self.manifest_alerts(), listed), unique_alerts(alerts(), listed))

        rewrite = update(manifest, added, listed_alerts) if update is not None else False
        if added or rewrite:
            manifest["recorded"] = utc_now()
            self.write_manifest(manifest, listed_alerts(), mode)
        return added


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _chain_iterables(*iterables):
    for iterable in iterables:
        yield from iterable


def unique_alerts(alerts, seen):
    """The alerts whose ``_id`` is not in ``seen`` yet, each once (``seen`` grows): a set, so the work is linear."""
    for alert in alerts:
        alert_id = alert.get("_id") if isinstance(alert, dict) else None
        if alert_id not in seen:
            seen.add(alert_id)
            yield alert


def manifest_chunks(manifest, alerts):
    """The bytes of ``json.dumps(dict(manifest, alerts=list(alerts)), indent=2, sort_keys=True) + "\\n"``, written an
    alert at a time (no other member sorts before ``alerts``)."""
    if any(key < "alerts" for key in manifest):
        raise ValueError("a manifest member sorts before alerts")
    rest = json.dumps(manifest, indent=2, sort_keys=True)[1:] if manifest else "\n}"  # without its "{"
    parts, count = ['{\n  "alerts": ['], 0
    for alert in alerts:
        parts.append("%s\n    %s" % ("," if count else "", json.dumps(alert, indent=2, sort_keys=True).replace("\n", "\n    ")))
        count += 1
        if len(parts) >= ALERTS_PER_CHUNK:
            yield "".join(parts).encode("utf-8")
            parts = []
    parts.append("\n  ]" if count else "]")
    parts.append(("," if manifest else "") + rest + "\n")
    yield "".join(parts).encode("utf-8")


def five_tuple_of(alert):
    """The alert's 5-tuple for checking a pcap, or None when it is incomplete or malformed (then no flow check)."""
    five_tuple = {key: alert.get(key) for key in FIVE_TUPLE_KEYS}
    try:
        FlowFilter(five_tuple)
    except ValueError:
        return None
    return five_tuple


def build_manifest(flow, pcap_facts, context, steps, source_alert, artifacts=None):
    """The custody record of one flow's pcap, but its alerts: what it is, where it came from, who fetched it and
    when; ``artifacts``: more members (flow_events, files: _flow_artifacts.py)."""
    return dict(artifacts or {}, **{
        "schema": MANIFEST_SCHEMA,
        "probe": flow.probe,
        "flow_id": flow.flow_id,
        "pcap": pcap_facts,
        "extracted_with_alert": source_alert["_id"],
        "source": context["source"],
        "collected_by": context["collected_by"],
        "steps": steps,
        "recorded": utc_now(),
    })
