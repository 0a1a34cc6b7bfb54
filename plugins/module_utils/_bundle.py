# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One flow's evidence as a reproducible tar.gz: its custody manifest, every file the manifest lists (each checked
against its sha256 as it is copied) and the manifest's detached signature when there is one.

The same evidence gives the same bytes whenever and wherever it is bundled: a fixed member order, fixed metadata
(mtime from the manifest's ``recorded`` time, uid/gid 0, no owner names, modes 0644/0755) and a gzip header without
file name and with mtime 0. Files are streamed: memory stays flat whatever the size of a pcap.
"""

from __future__ import annotations

import calendar
import datetime
import gzip
import hashlib
import os
import re
import stat
import tarfile

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsEvidenceError
from ansible_collections.stamus.scs.plugins.module_utils._evidence import MANIFEST_SCHEMA, SAFE_DIRNAME_RE
from ansible_collections.stamus.scs.plugins.module_utils._files import PartFile, has_sha256, sha256_file, write_all
from ansible_collections.stamus.scs.plugins.module_utils._json_stream import JsonDocuments, JsonStreamError
from ansible_collections.stamus.scs.plugins.module_utils._text import printable, shortened

# Caps on what is read from the evidence directory (its files may have been planted there).
MANIFEST_MAX_BYTES = 256 << 20  # a manifest of some 100,000 alerts
SIGNATURE_MAX_BYTES = 64 << 10
MAX_SIGNATURES = 50  # distinct signature texts returned, each cut to SIGNATURE_TEXT_CHARS
SIGNATURE_TEXT_CHARS = 1024
COMPRESS_LEVEL = 6
READ_SIZE = 1 << 20
SHA256_RE = re.compile(r"[0-9a-f]{64}")  # fullmatch
RECORDED_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z")  # fullmatch
USTAR_MAX_MTIME = 8 ** 11 - 1
FILE_MODE = 0o644
DIRECTORY_MODE = 0o755


def member_re(flow_id):
    """The paths a manifest of flow ``flow_id`` may name, relative to its directory (the evidence layout)."""
    flow = str(flow_id)
    return re.compile(r"%s\.pcap|%s\.events\.json|%s\.files/[0-9a-f]{64}|%s\.annotated\.pcapng" % ((flow,) * 4))


def bundle_name(probe, flow_id):
    return "%s-%d.tar.gz" % (probe, flow_id)


class Listed:
    """A file the manifest lists: its path relative to the manifest, where on disk, and what it must hash to."""

    __slots__ = ("relative", "path", "sha256", "size", "where")

    def __init__(self, relative, path, sha256, size, where):
        self.relative, self.path, self.sha256, self.size, self.where = relative, path, sha256, size, where


class Evidence:
    """A flow's manifest, read and checked: ``probe``, ``flow_id``, ``mtime`` (for every member), ``files`` (Listed,
    the manifest itself first, then its signature when present, then the listed files by path), ``alerts`` and
    ``signatures`` (distinct, printable, capped) for a summary."""

    def __init__(self, manifest_path):
        self.manifest_path = manifest_path
        self.directory = os.path.dirname(os.path.abspath(manifest_path))
        others, self.alerts, self.signatures = _read_manifest(manifest_path)
        self.probe, self.flow_id = _identity(others, manifest_path)
        self.mtime = recorded_mtime(others.get("recorded"))
        manifest_file = _regular(manifest_path, "The manifest")
        self.files = [Listed(os.path.basename(manifest_path), manifest_path, sha256_file(manifest_path),
                             manifest_file.st_size, "the manifest")]
        signature = manifest_path + ".sig"
        if os.path.lexists(signature):
            info = _regular(signature, "The manifest's signature")
            if info.st_size > SIGNATURE_MAX_BYTES:
                raise ScsEvidenceError("The manifest's signature %s is larger than %d bytes: it is no signature." % (
                    signature, SIGNATURE_MAX_BYTES))
            self.files.append(Listed(os.path.basename(signature), signature, sha256_file(signature), info.st_size,
                                     "the manifest's signature"))
        self.files += sorted(self._listed(others), key=lambda item: item.relative)

    @property
    def top(self):
        """The bundle's top directory: the probe's, as in the evidence layout (extracting it recreates the layout)."""
        return self.probe

    def _listed(self, others):
        allowed = member_re(self.flow_id)
        seen = {}
        for key in sorted(others):
            value = others[key]
            entries = [(key, value)] if isinstance(value, dict) else \
                [("%s[%d]" % (key, index), item) for index, item in enumerate(value)] if isinstance(value, list) else []
            for where, entry in entries:
                if not isinstance(entry, dict) or "file" not in entry:
                    continue
                listed = self._checked(entry, where, allowed)
                previous = seen.get(listed.relative)
                if previous is not None and previous.sha256 != listed.sha256:
                    raise ScsEvidenceError("The manifest %s lists %s twice with different sha256 (%s and %s); nothing "
                                           "was written." % (self.manifest_path, listed.relative, previous.where, where))
                seen[listed.relative] = listed
        return seen.values()

    def _checked(self, entry, where, allowed):
        relative, expected, size = entry.get("file"), entry.get("sha256"), entry.get("size")
        if not isinstance(relative, str) or not allowed.fullmatch(relative):
            raise ScsEvidenceError(
                "The manifest %s names the file %s in %s, which is not one of the evidence layout's names for flow %d "
                "(<flow_id>.pcap, .events.json, .files/<sha256>, .annotated.pcapng beside the manifest); refusing to "
                "read it. Nothing was written." % (self.manifest_path, printable(repr(relative))[:120], where,
                                                   self.flow_id))
        if not isinstance(expected, str) or not SHA256_RE.fullmatch(expected):
            raise ScsEvidenceError("The manifest %s lists %s (%s) without a valid sha256 (64 lowercase hex "
                                   "digits): it cannot be checked; nothing was written." % (
                                       self.manifest_path, relative, where))
        path = os.path.join(self.directory, relative)
        try:
            info = _regular(path, "The file listed as %s," % where)
        except FileNotFoundError:
            raise ScsEvidenceError("%s, listed in the manifest %s (%s), is missing; nothing was written. Fetch the "
                                   "evidence again (alert_pcap force=true) or restore the file." % (
                                       path, self.manifest_path, where)) from None
        if not isinstance(size, bool) and isinstance(size, int) and size != info.st_size:
            raise ScsEvidenceError("%s has changed since the manifest %s was written: %d bytes, the manifest says %d "
                                   "(%s); nothing was written." % (path, self.manifest_path, info.st_size, size, where))
        return Listed(relative, path, expected, info.st_size, where)


def _regular(path, what):
    """os.lstat of ``path``; ScsEvidenceError unless it is a regular file (never through a symbolic link)."""
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise ScsEvidenceError("%s %s is %s, not a regular file; refusing to read it; nothing was written." % (
            what, path, "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a file"))
    return info


def _read_manifest(path):
    """``(members but alerts, number of alerts, distinct signatures)`` of the manifest at ``path``, read an alert at a
    time after a size check."""
    try:
        size = _regular(path, "The manifest").st_size
    except FileNotFoundError:
        raise ScsEvidenceError("The manifest %s does not exist: give the <flow_id>.json that alert_pcap wrote beside "
                               "the pcap." % path) from None
    if size > MANIFEST_MAX_BYTES:
        raise ScsEvidenceError("The manifest %s is larger than %d MiB; refusing to read it." % (
            path, MANIFEST_MAX_BYTES >> 20))
    documents = JsonDocuments(path)
    count, signatures = 0, {}
    try:
        for _line, alert in documents:
            count += 1
            rule = alert.get("alert") if isinstance(alert, dict) else None
            text = rule.get("signature") if isinstance(rule, dict) else None
            if isinstance(text, str) and len(signatures) < MAX_SIGNATURES:
                signatures.setdefault(shortened(printable(text), SIGNATURE_TEXT_CHARS), None)
    except JsonStreamError as err:
        raise ScsEvidenceError("The manifest %s is not valid JSON: %s" % (path, err)) from None
    except OSError as err:
        raise ScsEvidenceError("Cannot read the manifest %s: %s." % (path, err.strerror or err)) from None
    others = documents.others
    if documents.form != "object" or not isinstance(others, dict) or others.get("schema") != MANIFEST_SCHEMA:
        raise ScsEvidenceError("%s is not a custody manifest (a JSON object with schema %s and an alerts list); "
                               "nothing was written." % (path, MANIFEST_SCHEMA))
    return others, count, list(signatures)


def _identity(others, path):
    probe, flow_id = others.get("probe"), others.get("flow_id")
    if not isinstance(probe, str) or not SAFE_DIRNAME_RE.fullmatch(probe) or probe in (".", ".."):
        raise ScsEvidenceError("The manifest %s names no usable probe (got %s); nothing was written." % (
            path, printable(repr(probe))[:120]))
    if isinstance(flow_id, bool) or not isinstance(flow_id, int) or flow_id < 0:
        raise ScsEvidenceError("The manifest %s names no valid flow_id (got %s); nothing was written." % (
            path, printable(repr(flow_id))[:120]))
    if os.path.basename(path) != "%d.json" % flow_id:
        raise ScsEvidenceError("The manifest %s is about flow %d but is not named %d.json: the files it lists are named "
                               "after its flow, beside it. Give the manifest where alert_pcap wrote it." % (
                                   path, flow_id, flow_id))
    return probe, flow_id


def recorded_mtime(recorded):
    """The members' mtime: the manifest's ``recorded`` time (UTC, as alert_pcap writes it) in whole seconds, or 0
    when it has none or one in another form."""
    match = RECORDED_RE.fullmatch(recorded) if isinstance(recorded, str) else None
    if match is None:
        return 0
    try:
        when = datetime.datetime(*(int(part) for part in match.groups()))
    except ValueError:
        return 0
    seconds = calendar.timegm(when.timetuple())
    return seconds if 0 <= seconds <= USTAR_MAX_MTIME else 0


class _Sink:
    """Where the gzip stream goes: hashed and counted, and written to ``fd`` unless it is None (check mode)."""

    def __init__(self, fd):
        self.fd = fd
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.digest.update(data)
        self.size += len(data)
        if self.fd is not None:
            write_all(self.fd, data)
        return len(data)

    def flush(self):
        pass


class _Checked:
    """A listed file read for the tar stream, hashed on the way."""

    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size=-1):
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def _info(name, mtime, size=0, directory=False):
    info = tarfile.TarInfo(name + "/" if directory else name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = DIRECTORY_MODE if directory else FILE_MODE
    info.size = size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _stream(evidence, sink):
    """Write the bundle of ``evidence`` to ``sink``; return its members (name, size, sha256). ScsEvidenceError, and
    nothing usable in ``sink``, when a file differs from what the manifest says."""
    members = []
    with gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=COMPRESS_LEVEL, mtime=0) as compressed:
        with tarfile.TarFile(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_info(evidence.top, evidence.mtime, directory=True))
            directories = set()
            for listed in evidence.files:
                parent = os.path.dirname(listed.relative)
                if parent and parent not in directories:
                    directories.add(parent)
                    tar.addfile(_info("%s/%s" % (evidence.top, parent), evidence.mtime, directory=True))
                name = "%s/%s" % (evidence.top, listed.relative)
                _add_checked(tar, name, listed, evidence)
                members.append({"name": name, "size": listed.size, "sha256": listed.sha256})
    return members


def _add_checked(tar, name, listed, evidence):
    try:
        with open(listed.path, "rb", opener=_no_follow) as handle:
            reader = _Checked(handle)
            tar.addfile(_info(name, evidence.mtime, size=listed.size), reader)
            grew = handle.read(1)
    except OSError as err:
        raise ScsEvidenceError("%s (%s of the manifest %s) changed or vanished while it was bundled (%s); nothing was "
                               "written." % (listed.path, listed.where, evidence.manifest_path, err.strerror or err)) from None
    if grew or reader.digest.hexdigest() != listed.sha256:
        raise ScsEvidenceError("%s does not match the manifest %s: its sha256 is %s, the manifest says %s (%s). The "
                               "evidence was changed after it was recorded; nothing was written." % (
                                   listed.path, evidence.manifest_path, reader.digest.hexdigest() if not grew else
                                   "that of a longer file", listed.sha256, listed.where))


def _no_follow(path, flags):
    return os.open(path, flags | os.O_NOFOLLOW)


def bundle_digest(evidence):
    """``(sha256, size, members)`` of the bundle of ``evidence``, computed without writing it (check mode)."""
    sink = _Sink(None)
    members = _stream(evidence, sink)
    return sink.digest.hexdigest(), sink.size, members


def write_bundle(evidence, dest, mode):
    """Write the bundle of ``evidence`` to ``dest`` atomically, unless ``dest`` already holds the same bytes;
    return ``(changed, sha256, size, members)``. A refusal leaves ``dest`` as it was."""
    with PartFile(dest) as part:
        sink = _Sink(part.fd)
        members = _stream(evidence, sink)
        sha256 = sink.digest.hexdigest()
        if has_sha256(dest, sha256):
            return False, sha256, sink.size, members
        part.sync(mode)
        part.commit()
    return True, sha256, sink.size, members


def checksum_line(sha256, bundle_path):
    """The line ``sha256sum -c`` reads, run in the bundle's directory."""
    return "%s  %s\n" % (sha256, os.path.basename(bundle_path))
