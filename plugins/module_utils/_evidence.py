# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Evidence layout and custody manifests: ``<dest>/<probe>/<flow_id>.pcap`` beside ``<flow_id>.json``."""

from __future__ import annotations

import datetime
import json
import os
import re

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError
from ansible_collections.stamus.scs.plugins.module_utils._files import atomic_write_chunks, sha256_file
from ansible_collections.stamus.scs.plugins.module_utils._pcap import prepare_alert
from ansible_collections.stamus.scs.plugins.module_utils._pcapfile import FlowFilter

MANIFEST_SCHEMA = "stamus.scs/evidence-manifest/v1"
# Probe names become directory names: one path segment, no dot-files, no traversal.
SAFE_DIRNAME_RE = re.compile(r"[0-9A-Za-z_][0-9A-Za-z_.@+-]*")  # whole string: fullmatch
FIVE_TUPLE_KEYS = ("src_ip", "src_port", "dest_ip", "dest_port", "proto")


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FlowEvidence:
    """The alerts of one flow on one probe: they share one pcap (the probe keeps one store per flow)."""

    def __init__(self, dest, probe, flow_id):
        self.probe = probe
        self.flow_id = flow_id
        self.directory = os.path.join(dest, probe)
        self.pcap_path = os.path.join(self.directory, "%d.pcap" % flow_id)
        self.manifest_path = os.path.join(self.directory, "%d.json" % flow_id)
        self.alerts = []

    @property
    def alert_ids(self):
        return [alert["_id"] for alert in self.alerts]

    def source_alert(self):
        """The alert to extract with: the earliest one that has a capture file (its file holds the most packets)."""
        captured = [alert for alert in self.alerts if alert.get("capture_file")]
        return min(captured, key=lambda alert: str(alert.get("@timestamp", alert.get("timestamp", "")))) if captured else None

    def five_tuple(self):
        return five_tuple_of(self.source_alert() or self.alerts[0])

    def read_manifest(self):
        try:
            with open(self.manifest_path, "rb") as handle:
                manifest = json.load(handle)
        except (OSError, ValueError):
            return None
        return manifest if isinstance(manifest, dict) and manifest.get("schema") == MANIFEST_SCHEMA else None

    def verified_existing(self):
        """The manifest of an existing pcap whose sha256 still matches it, else None."""
        manifest = self.read_manifest()
        if manifest is None or not os.path.isfile(self.pcap_path):
            return None
        expected = manifest.get("pcap", {}).get("sha256")
        return manifest if expected and sha256_file(self.pcap_path) == expected else None

    def write_manifest(self, manifest, mode):
        data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
        atomic_write_chunks(self.manifest_path, [data], mode=mode)


def five_tuple_of(alert):
    """The alert's 5-tuple for checking a pcap, or None when it is incomplete or malformed (then no flow check)."""
    five_tuple = {key: alert.get(key) for key in FIVE_TUPLE_KEYS}
    try:
        FlowFilter(five_tuple)
    except ValueError:
        return None
    return five_tuple


def plan_flows(alerts, dest):
    """Group alerts by (probe, flow); return ``(flows, rejected)`` where rejected is ``[(alert, reason)]``."""
    flows, rejected = {}, []
    for raw in alerts:
        try:
            alert, probe = prepare_alert(raw)
        except ScsConfigError as err:
            rejected.append((raw, str(err)))
            continue
        flow_id = alert.get("flow_id")
        if isinstance(flow_id, bool) or not isinstance(flow_id, int) or flow_id < 0:
            rejected.append((alert, "The alert has no valid flow_id (got %r): it cannot be filed as evidence." % (flow_id,)))
            continue
        if not SAFE_DIRNAME_RE.fullmatch(probe) or probe in (".", ".."):
            rejected.append((alert, "The probe name %r cannot be used as a directory name." % probe))
            continue
        key = (probe, flow_id)
        if key not in flows:
            flows[key] = FlowEvidence(dest, probe, flow_id)
        if alert["_id"] not in flows[key].alert_ids:
            flows[key].alerts.append(alert)
    return list(flows.values()), rejected


def build_manifest(flow, pcap_facts, context, steps, source_alert):
    """The custody record of one flow's pcap: what it is, where it came from, who fetched it and when."""
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "probe": flow.probe,
        "flow_id": flow.flow_id,
        "alerts": flow.alerts,
        "pcap": pcap_facts,
        "extracted_with_alert": source_alert["_id"],
        "source": context["source"],
        "collected_by": context["collected_by"],
        "steps": steps,
        "recorded": utc_now(),
    }
    return manifest


def merge_alerts(manifest, flow):
    """Add the flow's alerts that an existing manifest does not list yet; return whether any was added."""
    known = {alert.get("_id") for alert in manifest.get("alerts", [])}
    new = [alert for alert in flow.alerts if alert["_id"] not in known]
    if new:
        manifest["alerts"] = manifest.get("alerts", []) + new
        manifest["recorded"] = utc_now()
    return bool(new)
