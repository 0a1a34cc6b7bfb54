# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Check an evidence tree ``<path>/<probe>/<flow_id>.json``: every file each manifest lists, its signature, and the
files no manifest lists. Read-only; nothing on disk is trusted (names are full-matched, symbolic links are not
followed, sizes and reads are capped)."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import tempfile

from ansible_collections.stamus.scs.plugins.module_utils._evidence import MANIFEST_SCHEMA, SAFE_DIRNAME_RE
from ansible_collections.stamus.scs.plugins.module_utils._json_stream import JsonDocuments, JsonStreamError
from ansible_collections.stamus.scs.plugins.module_utils._signing import (
    ED25519_SIGNATURE_BYTES,
    MAX_SIGNATURE_BYTES,
    SSH_NAMESPACE,
    SSH_SIGNATURE_BEGIN,
    crypto,
    mapped,
    signature_path,
)
from ansible_collections.stamus.scs.plugins.module_utils._text import printable, shortened

MANIFEST_NAME_RE = re.compile(r"(0|[1-9][0-9]{0,19})\.json")  # fullmatch
SHA256_RE = re.compile(r"[0-9a-f]{64}")  # fullmatch
# A manifest lists every alert of its flow (some 3 KiB each): 1 GiB is some 300,000 alerts.
MAX_MANIFEST_BYTES = 1 << 30
HASH_CHUNK = 1 << 20
# Text from a manifest or a file name shown in a report is cut to this many characters.
SHOWN_CHARS = 200
# Problems listed per flow, and stray files listed for the tree (the summary counts them all).
MAX_PROBLEMS_PER_FLOW = 50
MAX_STRAY = 1000
# Flows listed in the result (results=all lists the good ones too); the summary counts them all.
MAX_LISTED_FLOWS = 10000
SIGNATURE_STATES = ("good", "bad", "missing", "none", "unchecked")


def flow_file_re(flow_id):
    """What a manifest of ``flow_id`` may name: its pcap, events, extracted files, annotated copy (the contract)."""
    flow = re.escape(str(flow_id))
    return re.compile(r"%s\.pcap|%s\.events\.json|%s\.files/[0-9a-f]{64}|%s\.annotated\.pcapng" % (flow, flow, flow, flow))


def shown(value):
    return shortened(printable(value), SHOWN_CHARS)


class Keys:
    """What signatures are checked with: an Ed25519 public key (raw signatures), an allowed_signers file and the
    identity to check against (SSHSIG, through ``ssh_keygen``, an SshKeygen, with -Y verify)."""

    def __init__(self, public_key=None, allowed_signers=None, identity=None, ssh_keygen=None, namespace=SSH_NAMESPACE):
        self.public_key = public_key
        self.allowed_signers = allowed_signers
        self.identity = identity
        self.ssh_keygen = ssh_keygen
        self.namespace = namespace

    @property
    def any(self):
        return self.public_key is not None or self.allowed_signers is not None

    def check(self, manifest_path, signature):
        """``(state, message)``: good, bad, or unchecked when no key for this kind of signature was given."""
        if signature.startswith(SSH_SIGNATURE_BEGIN):
            if self.allowed_signers is None:
                return "unchecked", "an SSH signature (SSHSIG): give allowed_signers and signer_identity to check it"
            return self._check_ssh(manifest_path, signature)
        if len(signature) != ED25519_SIGNATURE_BYTES:
            return "bad", "the signature file is neither a 64-byte Ed25519 signature nor an SSH signature"
        if self.public_key is None:
            return "unchecked", "a raw Ed25519 signature: give public_key to check it"
        invalid = crypto().InvalidSignature
        try:
            with mapped(manifest_path) as data:
                self.public_key.verify(signature, data)
        except invalid:
            return "bad", "the manifest does not match its signature with public_key"
        return "good", None

    def _check_ssh(self, manifest_path, signature):
        with tempfile.TemporaryDirectory(prefix="stamus-scs-verify-") as private:
            signature_file = os.path.join(private, "manifest.sig")
            with open(signature_file, "wb") as handle:
                handle.write(signature)
            done = self.ssh_keygen.run(["-Y", "verify", "-f", self.allowed_signers, "-I", self.identity,
                                        "-n", self.namespace, "-s", signature_file], manifest_path)
        if done.returncode == 0 and done.stdout.startswith(b"Good"):
            return "good", None
        said = shown(done.stderr.decode("utf-8", "replace").strip())
        return "bad", "ssh-keygen -Y verify refused the signature for %s: %s" % (shown(self.identity), said or "no reason given")


class FlowReport:
    """What was found for one manifest."""

    def __init__(self, probe, flow_id, manifest_path):
        self.probe = probe
        self.flow_id = flow_id
        self.manifest = manifest_path
        self.signature = "none"
        self.signed_by = None
        self.files = 0
        self.problems = []
        self.problem_count = 0

    def add(self, problem, message, file=None, expected=None, actual=None):
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_PER_FLOW:
            entry = {"problem": problem, "message": message, "file": file}
            if expected is not None or actual is not None:
                entry.update(expected=expected, actual=actual)
            self.problems.append(entry)

    @property
    def ok(self):
        return self.problem_count == 0

    def result(self):
        return {"probe": self.probe, "flow_id": self.flow_id, "manifest": self.manifest,
                "status": "ok" if self.ok else "tampered", "signature": self.signature, "signed_by": self.signed_by,
                "files_checked": self.files, "problems": self.problems,
                "problems_unlisted": self.problem_count - len(self.problems)}


def hash_file(directory_fd, relative):
    """``(sha256, size)`` of the regular file ``relative`` (``name`` or ``dir/name``) under the directory
    ``directory_fd``, no symbolic link followed on the way; OSError as it comes (ELOOP for a link)."""
    parts = relative.split("/")
    fds = []
    try:
        parent = directory_fd
        for part in parts[:-1]:
            parent = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
            fds.append(parent)
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent)
        fds.append(fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        digest, size = hashlib.sha256(), 0
        while True:
            chunk = os.read(fd, HASH_CHUNK)
            if not chunk:
                return digest.hexdigest(), size
            digest.update(chunk)
            size += len(chunk)
    finally:
        for opened in reversed(fds):
            os.close(opened)


def listed_files(manifest):
    """The members of a manifest (but its alerts) that name a file: every dict with a ``file`` or a ``sha256``, as
    a member or an element of a list member (pcap, flow_events, annotated, the fetched entries of files). Yields
    ``(member name, entry)``; entries with ``sha256`` alone (a file that was not fetched) are skipped."""
    for name in sorted(manifest):
        value = manifest[name]
        for entry in (value if isinstance(value, list) else [value]):
            if isinstance(entry, dict) and "file" in entry:
                yield name, entry


class TreeCheck:
    """Checks an evidence tree; ``run()`` returns the module's result."""

    def __init__(self, root, keys, require_signature=False, results="all"):
        self.root = root
        self.keys = keys
        self.require_signature = require_signature
        self.results = results
        self.flows = []
        self.unlisted_flows = 0
        self.stray = []
        self.counts = {"flows": 0, "ok": 0, "tampered": 0, "files_checked": 0, "bytes_checked": 0, "stray": 0}
        self.counts.update((state, 0) for state in SIGNATURE_STATES)

    def run(self):
        with os.scandir(self.root) as entries:
            probes = sorted(entries, key=lambda entry: entry.name)
        for entry in probes:
            if entry.is_symlink():
                self._stray(entry.path, "a symbolic link in the evidence tree, not followed")
            elif entry.is_dir(follow_symlinks=False):
                if SAFE_DIRNAME_RE.fullmatch(entry.name):
                    self._probe(entry.name, entry.path)
                elif not entry.name.startswith("."):
                    self._stray(entry.path, "a directory whose name is no probe name")
        return {"flows": self.flows, "flows_unlisted": self.unlisted_flows, "stray": self.stray, "summary": self.counts}

    def _stray(self, path, why):
        self.counts["stray"] += 1
        if len(self.stray) < MAX_STRAY:
            self.stray.append({"path": shown(path), "message": why})

    def _probe(self, probe, directory):
        names = set(os.listdir(directory))
        expected = set()
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            manifests = sorted((name for name in names if MANIFEST_NAME_RE.fullmatch(name)), key=lambda n: int(n[:-5]))
            reports = {}
            for name in manifests:
                flow_id = int(name[:-5])
                report = reports[flow_id] = FlowReport(probe, flow_id, os.path.join(directory, name))
                expected.update((name, name + ".sig"))
                expected.update(self._flow(report, dir_fd, expected))
            self._unlisted(directory, dir_fd, names, expected, reports)
            for report in reports.values():
                self._count(report)
        finally:
            os.close(dir_fd)

    def _flow(self, report, dir_fd, expected):
        """Check one manifest; return the names it lists (``dir/name`` for files in a subdirectory)."""
        path = report.manifest
        manifest = self._read_manifest(report, path)
        names = set()
        if manifest is not None:
            allowed = flow_file_re(report.flow_id)
            for member, entry in listed_files(manifest):
                name = self._listed_file(report, dir_fd, member, entry, allowed)
                if name is not None:
                    names.add(name)
            if not isinstance(manifest.get("pcap"), dict):
                report.add("malformed", "the manifest lists no pcap")
        self._signature(report, path, manifest)
        return names

    def _read_manifest(self, report, path):
        try:
            info = os.lstat(path)
        except OSError as err:
            report.add("unreadable", "cannot read the manifest: %s" % (err.strerror or err))
            return None
        if not stat.S_ISREG(info.st_mode):
            report.add("malformed", "the manifest is %s, not a regular file" % (
                "a symbolic link" if stat.S_ISLNK(info.st_mode) else "something else"))
            return None
        if info.st_size > MAX_MANIFEST_BYTES:
            report.add("malformed", "the manifest is larger than %d bytes, the most one is read" % MAX_MANIFEST_BYTES)
            return None
        documents = JsonDocuments(path)
        try:
            for _line, _alert in documents:
                pass
        except (OSError, JsonStreamError) as err:
            report.add("malformed", "the manifest is not valid JSON: %s" % shown(err))
            return None
        manifest = documents.others
        if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
            report.add("malformed", "the file is not a custody manifest (schema %s)" % MANIFEST_SCHEMA)
            return None
        if manifest.get("flow_id") != report.flow_id or manifest.get("probe") != report.probe:
            report.add("malformed", "the manifest names flow %s of probe %s, not the flow of its file name and directory"
                       % (shown(manifest.get("flow_id")), shown(manifest.get("probe"))))
        claimed = manifest.get("signed_by")
        if isinstance(claimed, dict) and isinstance(claimed.get("key"), str):
            report.signed_by = shown(claimed["key"])
        return manifest

    def _listed_file(self, report, dir_fd, member, entry, allowed):
        name, expected = entry.get("file"), entry.get("sha256")
        if not isinstance(name, str) or not allowed.fullmatch(name):
            report.add("hostile_path", "member %s names a file outside the flow's evidence (only %s.pcap, .events.json, "
                       ".files/<sha256>, .annotated.pcapng beside the manifest): refused"
                       % (shown(member), report.flow_id), file=shown(name))
            return None
        if not isinstance(expected, str) or not SHA256_RE.fullmatch(expected):
            report.add("malformed", "member %s lists %s without a valid sha256" % (shown(member), name), file=name)
            return name
        report.files += 1
        try:
            actual, size = hash_file(dir_fd, name)
        except FileNotFoundError:
            report.add("missing", "%s is listed but missing" % name, file=name, expected=expected)
            return name
        except OSError as err:
            why = "a symbolic link (not followed)" if err.errno == errno.ELOOP else "unreadable: %s" % (err.strerror or err)
            report.add("unreadable", "%s is %s" % (name, why), file=name, expected=expected)
            return name
        self.counts["bytes_checked"] += size
        if actual != expected:
            report.add("changed", "%s does not match its sha256 in the manifest" % name, file=name, expected=expected,
                       actual=actual)
        elif isinstance(entry.get("size"), int) and entry["size"] != size:
            report.add("changed", "%s has the listed sha256 but not the listed size" % name, file=name,
                       expected=entry["size"], actual=size)
        return name

    def _signature(self, report, path, manifest):
        try:
            fd = os.open(signature_path(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            claimed = report.signed_by is not None
            report.signature = "missing" if claimed or self.require_signature else "none"
            if report.signature == "missing":
                report.add("unsigned", "the manifest %s but there is no %s.sig" % (
                    "says it is signed" if claimed else "is not signed (require_signature)", os.path.basename(path)))
            return
        except OSError as err:
            report.signature = "bad"
            report.add("bad_signature", "the signature cannot be read: %s" % (
                "a symbolic link (not followed)" if err.errno == errno.ELOOP else err.strerror or err))
            return
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            report.signature = "bad"
            report.add("bad_signature", "the signature is not a regular file")
            return
        with os.fdopen(fd, "rb") as handle:
            signature = handle.read(MAX_SIGNATURE_BYTES + 1)
        if manifest is None:
            report.signature = "unchecked"  # the manifest is already reported
            return
        if not self.keys.any:
            report.signature = "unchecked"
            return
        state, message = self.keys.check(path, signature)
        report.signature = state
        if state == "bad":
            report.add("bad_signature", message)
        elif state == "unchecked" and self.require_signature:
            report.add("unsigned", "the signature cannot be checked: %s" % message)

    def _unlisted(self, directory, dir_fd, names, expected, reports):
        """Every name in the probe directory (and in the listed ``<flow_id>.files`` directories) that no manifest
        lists: reported on the flow whose ``<flow_id>.`` it starts with, else as stray."""
        for name in sorted(names):
            if name in expected:
                continue
            owner = reports.get(_flow_of(name))
            if name.endswith(".files") and owner is not None and self._is_directory(dir_fd, name):
                for inner in sorted(os.listdir(os.path.join(directory, name))):
                    if "%s/%s" % (name, inner) not in expected:
                        owner.add("unlisted", "%s/%s is in the flow's files but no manifest lists it" % (
                            name, shown(inner)), file="%s/%s" % (name, shown(inner)))
                continue
            if owner is not None:
                owner.add("unlisted", "%s is beside the manifest but the manifest does not list it" % shown(name),
                          file=shown(name))
            else:
                self._stray(os.path.join(directory, name), "no manifest lists it")

    @staticmethod
    def _is_directory(dir_fd, name):
        try:
            return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
        except OSError:
            return False

    def _count(self, report):
        self.counts["flows"] += 1
        self.counts["ok" if report.ok else "tampered"] += 1
        self.counts["files_checked"] += report.files
        self.counts[report.signature] += 1
        if self.results == "all" or not report.ok:
            if len(self.flows) < MAX_LISTED_FLOWS:
                self.flows.append(report.result())
            else:
                self.unlisted_flows += 1


def _flow_of(name):
    """The flow id a file name starts with (``123.pcap`` -> 123), else None."""
    match = re.match(r"(0|[1-9][0-9]{0,19})\.", name)
    return int(match.group(1)) if match else None
