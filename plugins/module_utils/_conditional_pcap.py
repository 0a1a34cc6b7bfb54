# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Turning conditional pcap on or off: desired state, the minimal writes, before/after and effective values."""

from __future__ import annotations

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsError
from ansible_collections.stamus.scs.plugins.module_utils._probes import effective_pcap, select
from ansible_collections.stamus.scs.plugins.module_utils._text import printable

STATE_VALUES = {"enabled": True, "disabled": False, "inherited": None}


class FlagPlan:  # pylint: disable=too-many-instance-attributes
    """What a conditional_pcap run reads (``FlagPlan.read``), would write, and what that means for every affected
    probe. The constructor takes what was read and sends nothing."""

    def __init__(self, manager, state, templates, probes, selected, fields):
        """``selected``: ``(template targets, probe targets)``, items of ``templates`` and ``probes``; ``fields``: the
        flag's field per kind, as ``manager.pcap_field`` found it."""
        self.manager = manager
        self.desired = STATE_VALUES[state]
        self.templates = templates
        self.probes = probes
        self.fields = fields
        template_targets, probe_targets = selected
        self.targets = [self._target("template", item) for item in template_targets]
        self.targets += [self._target("probe", item) for item in probe_targets]

    @classmethod
    def read(cls, manager, probes_wanted, templates_wanted, state):
        """Check the request, then read the probes, the templates and the flag's field from SCS."""
        if state == "inherited" and templates_wanted:
            raise ScsConfigError("state=inherited applies to probes only (it clears a probe's own value so that the "
                                 "template's applies); templates take enabled or disabled.")
        api = manager.api
        templates = manager.list_templates()
        probes = manager.list_probes()
        template_targets = select(templates, templates_wanted, api["template_key"], "template")
        probe_targets = select(probes, probes_wanted, api["probe_key"], "probe")
        fields = {
            "template": manager.pcap_field("template", manager.key("template", template_targets[0]) if template_targets else None),
            "probe": manager.pcap_field("probe", manager.key("probe", (probe_targets or probes)[0]) if probes else None),
        }
        return cls(manager, state, templates, probes, (template_targets, probe_targets), fields)

    def _target(self, kind, item):
        field = self.fields[kind]["name"]
        if field not in item:
            raise ScsConfigError(
                "The %s %s has no field %r. Find the field labelled %r with OPTIONS on its detail URL and set "
                "api_overrides.pcap_field." % (kind, printable(item.get("name")), field, self.manager.api["pcap_label"]))
        before = item.get(field)
        return {"kind": kind, "name": item.get("name"), "id": self.manager.key(kind, item), "field": field,
                "before": before, "after": self.desired, "changed": before != self.desired, "written": False}

    @property
    def pending(self):
        """Probes that already have changes waiting to be applied."""
        return [probe.get("name") for probe in self.probes if probe.get(self.manager.api["pending_field"])]

    def pending_after(self, written):
        """Probes with pending changes after this run. Once changes were ``written``, as SCS now lists them; otherwise
        those pending before and those the changes touch (the probes of a changed template, a changed probe)."""
        if written and any(target["written"] for target in self.targets):
            return [probe.get("name") for probe in self.manager.list_probes() if probe.get(self.manager.api["pending_field"])]
        return list(dict.fromkeys(self.pending + [probe["name"] for probe in self.effective()]))

    @property
    def changes(self):
        return [target for target in self.targets if target["changed"]]

    def diff(self):
        """Before/after of the changed targets only."""
        return {
            side: {"%s/%s" % (t["kind"], t["name"]): {t["field"]: t[side]} for t in self.changes}
            for side in ("before", "after")
        }

    def write(self, comment=None):
        """PATCH each changed target in turn. The first refused PATCH stops the run: the targets it did not write keep
        their value (``after`` is ``before``, ``changed`` false), and its error says which were written."""
        comment_field = self.manager.api["comment_field"]
        due = self.changes
        for index, target in enumerate(due):
            body = {target["field"]: target["after"]}
            if comment:
                body[comment_field] = comment
            try:
                answer = self.manager.patch(target["kind"], target["id"], body)
            except ScsError as err:
                for unwritten in due[index:]:
                    unwritten.update(after=unwritten["before"], changed=False)
                err.args = ("%s %s" % (err, _progress(due[:index], due[index:])),)
                raise
            if isinstance(answer, dict) and target["field"] in answer:
                target["after"] = answer[target["field"]]  # what SCS now holds
            target.update(written=True, changed=target["after"] != target["before"])

    def report(self, diff=False):
        """The module's result: targets, the effective value of the probes they touch (``probe_states``: not
        ``probes``, the module's option), the field, the diff."""
        result = {"changed": bool(self.changes), "targets": self.targets, "probe_states": self.effective(),
                  "field": self.fields}
        if diff:
            result["diff"] = self.diff()
        return result

    def effective(self):
        """Effective flag of every probe the changes touch, before and after."""
        api = self.manager.api
        field = self.fields["probe"]["name"]
        template_field = self.fields["template"]["name"]
        key = api["template_key"]
        before_templates = {template.get(key): {field: template.get(template_field)} for template in self.templates}
        after_templates = {k: dict(v) for k, v in before_templates.items()}
        changed_probes = {}
        for target in self.changes:
            if target["kind"] == "template":
                after_templates[target["id"]][field] = target["after"]
            else:
                changed_probes[target["id"]] = target["after"]
        changed_templates = {t["id"] for t in self.changes if t["kind"] == "template"}
        report = []
        for probe in self.probes:
            probe_key = self.manager.key("probe", probe)
            template = probe.get(api["probe_template_field"])
            if probe_key not in changed_probes and template not in changed_templates:
                continue
            after_probe = dict(probe)
            if probe_key in changed_probes:
                after_probe[field] = changed_probes[probe_key]
            report.append({
                "name": probe.get("name"), "id": probe_key, "template": template,
                "before": effective_pcap(probe, before_templates, field, api["probe_template_field"]),
                "after": effective_pcap(after_probe, after_templates, field, api["probe_template_field"]),
            })
        return report


def _label(target):
    return "%s %s" % (target["kind"], target["name"])


def _progress(written, unwritten):
    if not written:
        return "Nothing was written (%d change(s) due: %s)." % (len(unwritten), ", ".join(map(_label, unwritten)))
    return "Written before it: %s. Not written: %s." % (", ".join(map(_label, written)), ", ".join(map(_label, unwritten)))
