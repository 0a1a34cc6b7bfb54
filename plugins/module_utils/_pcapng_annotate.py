# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The annotated copy of a flow's pcap: ``<flow_id>.annotated.pcapng``, the same packets with a comment on the packet
of each alert, beside the untouched original.

The original (pcap in micro- or nanoseconds, or pcapng) is read twice as a stream through _pcap_verify's PcapStream
(its parser, checks and caps; memory stays flat): once to find the packet of each alert, once to write the copy. The
copy has, per section of the original (a classic pcap has one), a Section Header Block whose comment names the
manifest and the original with its sha256, one Interface Description Block per interface (link type, snaplen,
timestamp resolution and offset of the original), then every packet in order, as an Enhanced Packet Block with the
same bytes, original length and timestamp (a Simple Packet Block stays one), with one ``opt_comment`` per alert it
carries.

Which packet an alert belongs to: Suricata stamps an alert with the timestamp of the packet that triggered it, so it is
the first packet, in file order, of the alert's 5-tuple (either direction, on any encapsulation layer) whose
timestamp in microseconds equals the alert's time (its ``timestamp``, else ``@timestamp``, to the precision the alert
gives: a time in milliseconds matches any packet of that millisecond). When no packet matches exactly (a pcap store
that lost the packet, a time in another precision), the comment goes on the flow's last packet at or before the
alert's time, and says so. An alert without a usable time or 5-tuple, or with no packet of its flow at or before its
time, gets no comment: it is counted as unmatched, in the section comment and in the manifest.

Alert fields are untrusted: each comment is built from the sid, rev and severity as integers, the signature made
printable and cut to SIGNATURE_CHARS, the alert's id made printable and cut to ID_CHARS, and the time as parsed; it is
written as UTF-8 bytes, never interpreted.
"""

from __future__ import annotations

import bisect
import datetime
import os
import re
import struct

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsLimitError
from ansible_collections.stamus.scs.plugins.module_utils._files import atomic_write_chunks, has_sha256
from ansible_collections.stamus.scs.plugins.module_utils._pcap_verify import (
    READ_BUFFER_SIZE,
    FlowFilter,
    PcapFormatError,
    PcapStream,
    flow_layer,
)
from ansible_collections.stamus.scs.plugins.module_utils._text import printable, shortened
from ansible_collections.stamus.scs.plugins.module_utils._version import COLLECTION_NAME, COLLECTION_VERSION

ANNOTATED_SUFFIX = ".annotated.pcapng"
# Longest signature text and alert id quoted in a packet comment (after control characters are escaped).
SIGNATURE_CHARS = 512
ID_CHARS = 64
NEAREST_NOTE = "no packet of the flow at the alert time: nearest earlier packet of the flow"

# Suricata writes "2026-05-02T09:14:03.123456+0200", Elasticsearch "2026-05-02T07:14:03.123Z" (whole string).
ALERT_TIME_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

BT_SHB, BT_IDB, BT_SPB, BT_EPB = 0x0A0D0D0A, 1, 3, 6
OPT_ENDOFOPT, OPT_COMMENT, OPT_SHB_USERAPPL, OPT_IF_TSRESOL, OPT_IF_TSOFFSET = 0, 1, 4, 9, 14
BYTE_ORDER_MAGIC = 0x1A2B3C4D
_BLOCK_HEAD = struct.Struct("<II")
_U32 = struct.Struct("<I")


def annotated_path(pcap_path):
    """``<dir>/<flow_id>.annotated.pcapng`` for ``<dir>/<flow_id>.pcap``."""
    root, _ext = os.path.splitext(pcap_path)
    return root + ANNOTATED_SUFFIX


def alert_microseconds(alert):
    """``(microseconds since 1970, precision in microseconds)`` of an alert's time (``timestamp``, else
    ``@timestamp``; without a zone, UTC), or None when it has none that parses."""
    for key in ("timestamp", "@timestamp"):
        value = alert.get(key)
        match = ALERT_TIME_RE.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            continue
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        try:
            moment = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                                       tzinfo=_zone(zone))
        except ValueError:
            continue
        digits = min(len(fraction or ""), 6)
        micros = int((fraction or "0")[:6].ljust(6, "0"))
        whole = (moment - _EPOCH) // datetime.timedelta(seconds=1)
        return whole * 1000000 + micros, 10 ** (6 - digits)
    return None


def _zone(text):
    if not text or text == "Z":
        return datetime.timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _iso(micros):
    return (_EPOCH + datetime.timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quoted(text, limit):
    """Untrusted text as a comment quotes it: control characters and lone surrogates visibly escaped, then cut."""
    text = printable(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return shortened(text, limit)


def _integer(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def alert_comment(alert, micros):
    """The packet comment of one alert: "stamus.scs alert [1:sid:rev] signature | severity N | alert time T | id X"
    (an unknown field as "?"); every part printable and capped."""
    rule = alert.get("alert") if isinstance(alert.get("alert"), dict) else {}
    ids = [_integer(rule.get(key)) for key in ("gid", "signature_id", "rev")]
    signature = rule.get("signature")
    signature = _quoted(signature, SIGNATURE_CHARS) if isinstance(signature, str) else "?"
    severity = _integer(rule.get("severity"))
    alert_id = alert.get("_id")
    return "stamus.scs alert [%s] %s | severity %s | alert time %s | id %s" % (
        ":".join("?" if part is None else str(part) for part in ids), signature, "?" if severity is None else severity,
        "?" if micros is None else _iso(micros), _quoted(alert_id, ID_CHARS) if alert_id is not None else "?")


def _flow_key(flow):
    """Alerts whose filters have this key match the same packets (a flow is the same in either direction)."""
    ends = sorted(((flow.src, flow.sport), (flow.dst, flow.dport)), key=lambda end: (end[0], -1 if end[1] is None else end[1]))
    return flow.proto, tuple(ends)


class _Group:
    """The alerts of one 5-tuple: exact matches by time, and the best earlier packet per alert time (see _Plan)."""

    def __init__(self, flow):
        self.flow = flow
        self.by_time = {}  # (precision, microseconds // precision) -> [alert index, ...]
        self.precisions = set()
        self.alerts = []  # (latest microsecond the alert's time covers, alert index), sorted once all are in
        self.ends = []
        self.best = []  # per bucket: (microseconds, packet number) of the latest packet before that alert time

    def add(self, index, micros, precision):
        self.by_time.setdefault((precision, micros // precision), []).append(index)
        self.precisions.add(precision)
        self.alerts.append((micros + precision - 1, index))

    def ready(self):
        self.alerts.sort()
        self.ends = [end for end, _index in self.alerts]
        self.best = [None] * len(self.alerts)


class _Plan:
    """First reading (a PcapStream sink): which packet each alert's comment goes on."""

    def __init__(self, alerts):
        self.comments = []  # per alert: its comment
        self.times = []  # per alert: its time in microseconds (-1 without one), to order the comments of a packet
        self.packet_of = []  # per alert: the number of its packet (from 1), or None
        self.nearest = set()  # alerts whose packet is the nearest earlier one
        self.groups = {}
        for alert in alerts:
            self._add(alert)
        for group in self.groups.values():
            group.ready()
        self.interfaces = []
        self.number = 0

    def _add(self, alert):
        index = len(self.comments)
        when = alert_microseconds(alert)
        self.comments.append(alert_comment(alert, None if when is None else when[0]))
        self.times.append(-1 if when is None else when[0])
        self.packet_of.append(None)
        flow = _alert_flow(alert)
        if when is None or flow is None:
            return
        group = self.groups.get(_flow_key(flow))
        if group is None:
            group = self.groups[_flow_key(flow)] = _Group(flow)
        group.add(index, *when)

    # -- sink ----------------------------------------------------------------------------------------------------

    def section(self, _byte_order):
        self.interfaces = []

    def interface(self, linktype, _snaplen, ticks_per_second, offset_seconds):
        self.interfaces.append((linktype, ticks_per_second, offset_seconds))

    def packet(self, interface_index, ticks, _origlen, data):
        self.number += 1
        if ticks is None or interface_index >= len(self.interfaces):
            return
        linktype, ticks_per_second, offset_seconds = self.interfaces[interface_index]
        micros = ticks * 1000000 // ticks_per_second + offset_seconds * 1000000
        for group in self.groups.values():
            if flow_layer(linktype, data, group.flow) is None:
                continue
            for precision in group.precisions:
                for index in group.by_time.get((precision, micros // precision), ()):
                    if self.packet_of[index] is None:
                        self.packet_of[index] = self.number
            bucket = bisect.bisect_left(group.ends, micros)
            if bucket < len(group.best):
                best = group.best[bucket]
                if best is None or micros >= best[0]:
                    group.best[bucket] = (micros, self.number)

    # -- result --------------------------------------------------------------------------------------------------

    def settle(self):
        """Give the alerts without an exact packet the latest packet of their flow at or before their time; return
        ``{packet number: [comment, ...]}``, comments in alert time order."""
        for group in self.groups.values():
            best = None
            for (_end, index), bucket in zip(group.alerts, group.best):
                if bucket is not None and (best is None or bucket[0] >= best[0]):
                    best = bucket
                if self.packet_of[index] is None and best is not None:
                    self.packet_of[index] = best[1]
                    self.nearest.add(index)
        order = sorted(range(len(self.comments)), key=lambda index: (self.times[index], index))
        marks = {}
        for index in order:
            number = self.packet_of[index]
            if number is not None:
                text = self.comments[index]
                if index in self.nearest:
                    text += " | " + NEAREST_NOTE
                marks.setdefault(number, []).append(text)
        return marks

    @property
    def unmatched(self):
        return sum(1 for number in self.packet_of if number is None)


def _alert_flow(alert):
    five_tuple = {key: alert.get(key) for key in ("src_ip", "src_port", "dest_ip", "dest_port", "proto")}
    try:
        return FlowFilter(five_tuple)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Writing pcapng
# ---------------------------------------------------------------------------------------------

def _option(code, value):
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _options(options):
    if not options:
        return b""
    return b"".join(_option(code, value) for code, value in options) + _option(OPT_ENDOFOPT, b"")


def _block(block_type, body):
    length = 12 + len(body)
    return _BLOCK_HEAD.pack(block_type, length) + body + _U32.pack(length)


def _text(text):
    return text.encode("utf-8")[:65535]


def _tsresol(ticks_per_second):
    """if_tsresol for a resolution _pcap_verify read (a power of 10 or of 2)."""
    power = 0
    while 10 ** power < ticks_per_second:
        power += 1
    if 10 ** power == ticks_per_second:
        return power
    return 0x80 | (ticks_per_second.bit_length() - 1)


class _Writer:
    """Second reading (a PcapStream sink): the annotated copy's blocks, gathered in ``out`` until taken."""

    def __init__(self, section_comment, marks):
        self.section_comment = section_comment
        self.marks = marks
        self.out = []
        self.number = 0
        self.comments = 0

    def section(self, _byte_order):
        options = [(OPT_COMMENT, _text(self.section_comment)),
                   (OPT_SHB_USERAPPL, _text("%s %s" % (COLLECTION_NAME, COLLECTION_VERSION)))]
        body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options(options)
        self.out.append(_block(BT_SHB, body))

    def interface(self, linktype, snaplen, ticks_per_second, offset_seconds):
        options = []
        if ticks_per_second != 1000000:
            options.append((OPT_IF_TSRESOL, bytes((_tsresol(ticks_per_second),))))
        if offset_seconds:
            options.append((OPT_IF_TSOFFSET, struct.pack("<q", offset_seconds)))
        self.out.append(_block(BT_IDB, struct.pack("<HHI", linktype, 0, snaplen) + _options(options)))

    def packet(self, interface_index, ticks, origlen, data):
        self.number += 1
        padding = b"\0" * (-len(data) % 4)
        if ticks is None:
            self.out.append(_block(BT_SPB, _U32.pack(origlen) + bytes(data) + padding))
            return
        comments = self.marks.get(self.number, ())
        self.comments += len(comments)
        head = struct.pack("<IIIII", interface_index, ticks >> 32, ticks & 0xFFFFFFFF, len(data), origlen)
        options = _options([(OPT_COMMENT, _text(comment)) for comment in comments])
        self.out.append(_block(BT_EPB, head + bytes(data) + padding + options))


def _read(path, sink):
    """Feed ``path`` to a PcapStream with ``sink``, a buffer at a time; yield after each buffer."""
    stream = PcapStream(sink=sink)
    with open(path, "rb", buffering=0) as handle:
        while True:
            data = handle.read(READ_BUFFER_SIZE)
            if not data:
                break
            stream.feed(data)
            yield
    stream.finish()


def _chunks(path, writer):
    for _unused in _read(path, writer):
        if writer.out:
            chunk = b"".join(writer.out)
            writer.out.clear()
            yield chunk
    if writer.out:
        yield b"".join(writer.out)


def section_comment(manifest_name, pcap_name, pcap_sha256, alerts, plan):
    nearest, unmatched = len(plan.nearest), plan.unmatched
    return ("Annotated copy of %s (sha256 %s), made by %s for the custody manifest %s (schema "
            "stamus.scs/evidence-manifest/v1), which lists the flow's alerts; the original is the evidence. Packet "
            "comments mark the packet of each of the %d alert(s): %d at the alert time, %d on the nearest earlier packet "
            "of the flow, %d without a packet (unmatched)." % (
                pcap_name, pcap_sha256, COLLECTION_NAME, manifest_name, alerts, alerts - nearest - unmatched, nearest,
                unmatched))


def write_annotated(pcap_path, dest, alerts, pcap_sha256, manifest_name, mode=0o640):
    """Write the annotated copy of ``pcap_path`` to ``dest`` atomically (the whole copy or nothing; ``mode``) with a
    comment per alert of ``alerts`` (an iterable, read once); return the manifest's ``annotated`` member:
    ``{file, sha256, size, comments, nearest, unmatched}``.

    Raises OSError when it cannot be written, ScsLimitError when the original cannot be copied (a malformed capture,
    a packet over SINK_PACKET_LIMIT).
    """
    plan = _Plan(alerts)
    try:
        for _unused in _read(pcap_path, plan):
            pass
        marks = plan.settle()
        comment = section_comment(manifest_name, os.path.basename(pcap_path), pcap_sha256, len(plan.comments), plan)
        writer = _Writer(comment, marks)
        size, sha256 = atomic_write_chunks(dest, _chunks(pcap_path, writer), mode=mode)
    except PcapFormatError as err:
        raise ScsLimitError("Cannot write the annotated copy of %s: %s." % (pcap_path, err)) from None
    return {"file": os.path.basename(dest), "sha256": sha256, "size": size, "comments": writer.comments,
            "nearest": len(plan.nearest), "unmatched": plan.unmatched}


# ---------------------------------------------------------------------------------------------
# A flow's copy (alert_pcap's annotated=true)
# ---------------------------------------------------------------------------------------------

def annotate_flow(flow, alerts, pcap_sha256, mode):
    """Write the annotated copy of a FlowEvidence's pcap for ``alerts`` (an iterable); return its manifest member."""
    return write_annotated(flow.pcap_path, annotated_path(flow.pcap_path), alerts, pcap_sha256,
                           os.path.basename(flow.manifest_path), mode=mode)


class AnnotatedRefresh:
    """The ``update`` of FlowEvidence.merge for annotated=true: the copy is (re)written when alerts are added to the
    manifest, or when the manifest names no copy or one that is missing or differs from it (a rerun that asks for
    it); ``written`` says whether it was."""

    def __init__(self, flow, mode):
        self.flow = flow
        self.mode = mode
        self.written = False

    def __call__(self, manifest, added, listed):
        path = annotated_path(self.flow.pcap_path)
        member = manifest.get("annotated")
        if not added and isinstance(member, dict) and member.get("file") == os.path.basename(path) \
                and has_sha256(path, member.get("sha256")):
            return False
        pcap = manifest.get("pcap") if isinstance(manifest.get("pcap"), dict) else {}
        manifest["annotated"] = annotate_flow(self.flow, listed(), pcap.get("sha256"), self.mode)
        self.written = True
        return True
