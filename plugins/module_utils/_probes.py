# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Probe Management on SCS: probes, templates, the conditional pcap flag, and the calls that apply pending changes."""

from __future__ import annotations

import datetime
import difflib
import fnmatch
import time

from ansible_collections.stamus.scs.plugins.module_utils._client import path_segment
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsNotFoundError, ScsPermissionError
from ansible_collections.stamus.scs.plugins.module_utils._text import printable

LIST_PAGE_SIZE = 1000


class ProbeManager:
    """Reads probes and templates with list calls and writes only what it is asked to."""

    def __init__(self, client, api, sleep=time.sleep, clock=time.monotonic, now=None):
        self.client = client
        self.api = api
        # used to follow the apply task (_apply.py)
        self.sleep = sleep
        self.clock = clock
        self.now = now or (lambda: datetime.datetime.now(datetime.timezone.utc))
        self._probe_path = None
        self._fields = {}

    # -- reading ----------------------------------------------------------------------------------

    @property
    def probe_path(self):
        if self._probe_path is None:
            self.list_probes()
        return self._probe_path

    def list_probes(self):
        """All probes in one list call; older SCS name the collection ``appliances/appliance/``."""
        if self._probe_path is None:
            try:
                probes = self._list(self.api["probe_path"])
            except ScsNotFoundError:
                if "probe_path" in self.api["overridden"]:
                    raise
                self._probe_path = self.api["legacy_probe_path"]
            else:
                self._probe_path = self.api["probe_path"]
                return probes
        return self._list(self._probe_path)

    def _list(self, path):
        return self.client.get_all(path, page_size=LIST_PAGE_SIZE)[0]

    def list_templates(self):
        try:
            return self._list(self.api["template_path"])
        except ScsNotFoundError:
            raise ScsNotFoundError(
                "SCS has no template collection at /rest/%s (an assumed path). Find the right one in the browser's network tab on the "
                "Probe Management pages and set api_overrides.template_path." % self.api["template_path"]) from None

    def pcap_field(self, kind, sample_key):
        """The flag's field name, found by its label in DRF OPTIONS metadata of one detail URL (once per kind)."""
        if kind not in self._fields:
            self._fields[kind] = self._discover_field(kind, sample_key)
        return self._fields[kind]

    def _discover_field(self, kind, sample_key):
        configured = {"name": self.api["pcap_field"], "source": "configured"}
        if "pcap_field" in self.api["overridden"] or sample_key is None:
            return configured
        metadata = self.client.send_json("OPTIONS", self.detail_path(kind, sample_key))
        actions = metadata.get("actions") if isinstance(metadata, dict) else None
        fields = {}
        for method in ("PATCH", "PUT"):
            if isinstance(actions, dict) and isinstance(actions.get(method), dict):
                fields = actions[method]
                break
        label = self.api["pcap_label"].strip().lower()
        for name, spec in fields.items():
            if isinstance(spec, dict) and str(spec.get("label", "")).strip().lower() == label:
                return {"name": name, "source": "options"}
        return configured

    def detail_path(self, kind, key):
        base = self.probe_path if kind == "probe" else self.api["template_path"]
        return base + path_segment(key) + "/"

    def key(self, kind, item):
        return item.get(self.api["probe_key"] if kind == "probe" else self.api["template_key"])

    # -- writing ----------------------------------------------------------------------------------

    def patch(self, kind, key, body):
        return self._write("PATCH", self.detail_path(kind, key), body, self.api["write_permission"])

    @property
    def apply_path(self):
        """The apply call: ``api_overrides.apply_path`` as given, else the probe collection (found, so legacy on an
        older SCS) and ``push_action``."""
        if "apply_path" in self.api["overridden"]:
            return self.api["apply_path"]
        return self.probe_path + self.api["push_action"]

    def push(self, comment=None):
        """POST the apply call with ``apply_body`` (the comment added under ``comment_field``); its answer."""
        body = dict(self.api["apply_body"])
        if comment:
            body[self.api["comment_field"]] = comment
        return self._write("POST", self.apply_path, body or None, self.api["push_permission"])

    def _write(self, method, path, body, permission):
        try:
            return self.client.send_json(method, path, json=body)
        except ScsPermissionError as err:
            raise ScsPermissionError(
                "%s The token's user needs the SCS permission %s (for example the Superuser role) to change Probe "
                "Management." % (err, permission), method=err.method, path=err.path, status=err.status) from None

    # -- apply tasks ------------------------------------------------------------------------------

    def task(self, task_pk):
        return self.client.get_json(self.api["task_path"].format(pk=path_segment(task_pk)))


def effective_pcap(probe, templates_by_key, field, probe_template_field):
    """A probe's own flag, or its template's when it inherits (null), or False without a template."""
    own = probe.get(field)
    if own is not None:
        return bool(own)
    template = templates_by_key.get(probe.get(probe_template_field))
    return bool(template.get(field)) if template else False


def select(items, wanted, key_name, kind, name_field="name"):
    """Items by name or key (``all`` selects everything); unknown entries fail with close matches."""
    if wanted is None:
        return []
    if any(str(entry) == "all" for entry in wanted):
        return list(items)
    by_name = {str(item.get(name_field)): item for item in items}
    by_key = {str(item.get(key_name)): item for item in items}
    chosen, unknown = [], []
    for entry in wanted:
        item = by_name.get(str(entry)) or by_key.get(str(entry))
        if item is None:
            unknown.append(str(entry))
        elif item not in chosen:
            chosen.append(item)
    if unknown:
        hints = ["%s (did you mean %s?)" % (name, ", ".join(difflib.get_close_matches(name, by_name, n=3)))
                 if difflib.get_close_matches(name, by_name, n=3) else name for name in unknown]
        raise ScsConfigError("Unknown %s(s): %s. SCS has %d %ss; list them with stamus.scs.%s_info." % (
            kind, printable("; ".join(hints)), len(items), kind, kind))
    return chosen


def filter_items(items, names=None, pattern=None):
    """Items whose name is in ``names`` and matches the glob ``pattern`` (both optional)."""
    selected = items
    if names:
        wanted = set(names)
        selected = [item for item in selected if item.get("name") in wanted]
    if pattern:
        selected = [item for item in selected if fnmatch.fnmatchcase(str(item.get("name", "")), pattern)]
    return selected


class FleetView:
    """Probes and templates as the info modules report them, with effective pcap values. ``FleetView.read`` reads
    them from SCS; the constructor takes what was read and sends nothing."""

    def __init__(self, api, templates, probes, probe_field, template_field):
        self.api = api
        self.templates = templates
        self.probes = probes
        self.probe_field = probe_field
        self.template_field = template_field
        self.templates_by_key = {template.get(api["template_key"]): template for template in self.templates}
        # effective_pcap reads the template's flag under the probe's field name
        self._flags = {key: {self.probe_field: template.get(template_field)} for key, template in self.templates_by_key.items()}

    @classmethod
    def read(cls, manager):
        """The templates, the probes and the flag's field of each kind, read from SCS."""
        templates = manager.list_templates()
        probes = manager.list_probes()
        probe_field = manager.pcap_field("probe", manager.key("probe", probes[0]) if probes else None)["name"]
        template_field = manager.pcap_field("template", manager.key("template", templates[0]) if templates else None)["name"]
        return cls(manager.api, templates, probes, probe_field, template_field)

    def probe(self, probe):
        template = self.templates_by_key.get(probe.get(self.api["probe_template_field"]))
        return {
            "name": probe.get("name"),
            "appliance_id": probe.get(self.api["probe_key"]),
            "address": probe.get("address"),
            "descr": probe.get("descr"),
            "template": template.get("name") if template else None,
            "template_id": template.get(self.api["template_key"]) if template else None,
            "conditional_pcap": probe.get(self.probe_field),
            "conditional_pcap_effective": effective_pcap(probe, self._flags, self.probe_field, self.api["probe_template_field"]),
            "pending_changes": probe.get(self.api["pending_field"]),
            "last_seen": probe.get("last_seen"),
            "suri_running": probe.get("suri_running"),
        }

    def template(self, template):
        key = template.get(self.api["template_key"])
        members = [probe.get("name") for probe in self.probes if probe.get(self.api["probe_template_field"]) == key]
        return {"id": key, "name": template.get("name"), "descr": template.get("descr"),
                "conditional_pcap": template.get(self.template_field), "probes": members, "probe_count": len(members)}
