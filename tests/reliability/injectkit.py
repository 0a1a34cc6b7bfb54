"""Alerts whose fields carry Jinja payloads: each payload runs ``touch <dir>/pwned-<n>`` if anything renders it, so
a marker file on disk is proof that data was executed as code, and which field did it.

The payloads go into every string field of an alert (keys too, nested values, lists) except the ones the pcap chain
needs to find the packets (``CHAIN_FIELDS``): the alert is still fetchable, so a test shows both that nothing ran and
that the pcap still arrives with the data kept literally.
"""

import itertools
import os

# What the emulator needs to serve and extract the alert (id, probe, time, capture file, 5-tuple), and its event_type,
# which Suricata writes (not traffic) and SCS selects alerts by (event_type:alert AND NOT discovery:*).
CHAIN_FIELDS = frozenset(("_id", "host", "capture_file", "@timestamp", "timestamp", "src_ip", "dest_ip", "proto",
                          "event_type"))
MARKER_PREFIX = "pwned-"
# Each template takes the marker path; all of them run a command when rendered by Ansible.
TEMPLATES = (
    "{{{{ lookup('ansible.builtin.pipe', 'touch {marker}') }}}}",
    "{{% set x = lookup('ansible.builtin.pipe', 'touch {marker}') %}}{{{{ x }}}}",
    "{{# hidden #}}{{{{ query('ansible.builtin.pipe', 'touch {marker}') | first | default('') }}}}",
    "Mozilla/5.0 {{{{ lookup('pipe', 'touch {marker}') | to_json }}}} (X11)",
)
# Not executable, but a renderer would choke on it: data must arrive as it was sent.
BROKEN = "{% raw %} {{ unbalanced"


class Payloads:
    """Numbered payloads that each touch their own marker file under ``directory``."""

    def __init__(self, directory, tag="p"):
        self.directory = str(directory)
        self.tag = tag
        self._numbers = itertools.count(1)
        self.issued = []

    def next(self):
        number = next(self._numbers)
        payload = TEMPLATES[number % len(TEMPLATES)].format(marker=self._marker(number))
        self.issued.append(payload)
        return payload

    def word(self):
        """A payload without whitespace, for values that may not hold any (a probe name used as a host name): the
        shell of the pipe lookup expands ${IFS} to the space."""
        number = next(self._numbers)
        payload = "{{lookup('ansible.builtin.pipe','touch${IFS}%s')}}" % self._marker(number)
        self.issued.append(payload)
        return payload

    def _marker(self, number):
        return os.path.join(self.directory, "%s%s-%d" % (MARKER_PREFIX, self.tag, number))

    def fired(self):
        """The marker files that exist: each one is a payload that ran."""
        return sorted(name for name in os.listdir(self.directory) if name.startswith(MARKER_PREFIX))


def _poison(value, payloads):
    if isinstance(value, str):
        return payloads.next()
    if isinstance(value, list):
        return [_poison(item, payloads) for item in value]
    if isinstance(value, dict):
        # Numbers are left out, so the deep merge keeps the generated ones (severity, ports, counters).
        poisoned = {key: _poison(item, payloads) for key, item in value.items() if isinstance(item, (str, list, dict))}
        poisoned[payloads.next()] = payloads.next()  # a payload as a key, too
        return poisoned
    return value


def _merge(into, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def hostile_fields(samples, payloads):
    """``fields`` for Emulator.add_alerts: a payload in every string field any of ``samples`` (alerts) has, outside
    CHAIN_FIELDS, in new keys at every level, and in the app-layer fields traffic senders choose."""
    fields = {}
    for sample in samples:
        _merge(fields, {key: _poison(value, payloads) for key, value in sample.items()
                        if key not in CHAIN_FIELDS and isinstance(value, (str, list, dict))})
    return _merge(fields, {
        "http": {"http_user_agent": payloads.next(), "hostname": payloads.next(), "url": payloads.next(),
                 "http_refer": BROKEN},
        "tls": {"sni": payloads.next(), "subject": payloads.next()},
        "dns": {"rrname": payloads.next(), "query": [{"rrname": payloads.next(), "rrtype": payloads.next()}]},
        "alert": {"signature": payloads.next(), "category": payloads.next(),
                  "metadata": {payloads.next(): [payloads.next()], "tag": [payloads.next()]}},
        payloads.next(): {payloads.next(): [payloads.next(), {payloads.next(): payloads.next()}]},
    })


def clean_strings(alert, path=""):
    """Dotted paths of the string keys and values of ``alert`` (outside CHAIN_FIELDS) that carry no payload."""
    found = []
    if isinstance(alert, dict):
        for key, value in alert.items():
            if not path and key in CHAIN_FIELDS:
                continue
            here = "%s.%s" % (path, key) if path else key
            if isinstance(value, str) and "{" not in value:
                found.append(here)
            elif isinstance(value, (dict, list)):
                found += clean_strings(value, here)
    elif isinstance(alert, list):
        for index, item in enumerate(alert):
            if isinstance(item, str) and "{" not in item:
                found.append("%s[%d]" % (path, index))
            else:
                found += clean_strings(item, "%s[%d]" % (path, index))
    return found
