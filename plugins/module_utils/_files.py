# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Atomic, permission-aware file writes: a destination holds either the old file or the whole new one."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import socket
import stat
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename itself is still atomic
    finally:
        os.close(fd)


# Temporary files are `.<name>.<host>-<pid>.<random>.part` beside their destination, so that a later run can tell
# the ones an interrupted writer left (its process is gone) from those of a writer still at work.
PART_NAME_MAX = 120  # of <name> in the temporary name, so that it stays under the usual 255-byte limit
PART_RE = re.compile(r"^\.(?P<name>.+)\.(?P<host>[0-9a-f]{8})-(?P<pid>[1-9][0-9]{0,9})\.[a-z0-9_]{8}\.part$")
# A writer on another host (a shared evidence directory) cannot be checked: its files count as stale after a day.
STALE_PART_SECONDS = 24 * 3600
HOST_TAG = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _part_prefix(name):
    return ".%s.%s-%d." % (name[:PART_NAME_MAX], HOST_TAG, os.getpid())


class PartFile:
    """A new hidden temporary file beside ``dest`` (same filesystem, so the final rename is atomic), written through
    ``fd``, that replaces ``dest`` whole or not at all: ``sync(mode)`` gives it its mode and fsyncs it, ``commit()``
    renames it over ``dest``. Leaving the ``with`` block without a commit (an exception, a check that refused it)
    removes it; the descriptor is closed either way."""

    def __init__(self, dest):
        self.dest = dest
        self.directory = os.path.dirname(os.path.abspath(dest))
        self.fd, self.path = tempfile.mkstemp(dir=self.directory, prefix=_part_prefix(os.path.basename(dest)),
                                              suffix=".part")
        self._committed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._close()
        if not self._committed:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        return False

    def _close(self):
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def sync(self, mode):
        os.fchmod(self.fd, mode)
        os.fsync(self.fd)

    def commit(self):
        self._close()
        os.replace(self.path, self.dest)
        self._committed = True
        _fsync_directory(self.directory)


def write_all(fd, data):
    """os.write until all of ``data`` (a bytes-like object) is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def atomic_write_chunks(dest, chunks, mode=0o640, before_commit=None):
    """Write an iterable of byte chunks to ``dest``; return ``(size, sha256 hex)``.

    For small files (manifests, state): they go to a PartFile, fsynced with ``mode``, then renamed over ``dest``. On
    any failure (``chunks`` may raise to stop the write) the temporary file is removed and the exception propagates.
    ``before_commit(path)``, when given, is called with the complete temporary file's path before the rename (a
    manifest's signature is made from it).
    Downloads take the pipeline of _pipeline.py instead.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with PartFile(dest) as part:
            for chunk in chunks:
                write_all(part.fd, chunk)
                digest.update(chunk)
                size += len(chunk)
            part.sync(mode)
            if before_commit is not None:
                before_commit(part.path)
            part.commit()
    except OSError as err:
        if not err.filename:
            err.filename = dest  # a failed write or fsync names no file: say which one it was
        raise
    return size, digest.hexdigest()


def os_error_text(err):
    """``No space left on device (/srv/evidence/probe-01/1.json)``: an OSError's reason and the file it names."""
    reason = err.strerror or str(err)
    return "%s (%s)" % (reason, err.filename) if getattr(err, "filename", None) else reason


def _writer_gone(host, pid):
    if host != HOST_TAG:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False  # alive under another user, or a number no process can have: keep it
    return False


def remove_stale_parts(directory, name=None, depth=0, now=None):
    """Remove the temporary files that interrupted writes of this collection left in ``directory`` (only those of
    destination ``name`` when given; in its subdirectories too, ``depth`` levels down, never through a symbolic
    link); return their paths. A file is stale when its writer ran on this host and its process is gone, or when it
    is older than STALE_PART_SECONDS. Nothing that does not match the temporary name pattern is touched."""
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if depth > 0 and entry.is_dir(follow_symlinks=False):
            removed += remove_stale_parts(entry.path, name, depth - 1, now)
            continue
        match = PART_RE.match(entry.name)
        if not match or (name is not None and match.group("name") != name[:PART_NAME_MAX]):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                continue
            if _writer_gone(match.group("host"), int(match.group("pid"))) or now - info.st_mtime > STALE_PART_SECONDS:
                os.unlink(entry.path)
                removed.append(entry.path)
        except OSError:
            continue  # gone meanwhile (its writer finished, another run removed it), or not ours to remove
    return removed


def free_space(directory):
    """Bytes an unprivileged writer may still use in ``directory``'s filesystem, or None when unknown."""
    try:
        info = os.statvfs(directory)
    except (OSError, AttributeError):
        return None
    return info.f_bavail * info.f_frsize


def sha256_file(path, chunk_size=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def has_sha256(path, sha256):
    """Whether ``path`` is a regular file (a symbolic link is not) whose bytes hash to ``sha256``."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode) and sha256_file(path) == sha256
    except OSError:
        return False


DEFAULT_FILE_MODE = 0o640
SYMBOLIC_MODE_RE = re.compile(r"[ugoa]*([-+=]([rwxXst]*|[ugo]))+(,[ugoa]*([-+=]([rwxXst]*|[ugo]))+)*")  # fullmatch
MODE_ERROR = "mode must be octal such as '0640' (quoted in YAML) or symbolic such as 'u=rw,g=r,o=' (got %r)."


def parse_mode(value):
    """``'0640'`` -> 0o640. Only octal strings: an integer like 640 is ambiguous in YAML."""
    text = str(value).strip()
    if not re.fullmatch(r"0?[0-7]{3,4}", text):
        raise ScsConfigError(MODE_ERROR % (value,))
    return int(text, 8)


def file_mode(value):
    """The permission bits of the files a module writes, from its ``mode`` option (stamus.scs.file_mode): an octal
    string, an integer (YAML reads an unquoted 0640 as octal), or a symbolic mode applied to 0640 as for a new file.

    Checked before anything is downloaded: SCS serves a pcap only once.
    """
    if value is None:
        return DEFAULT_FILE_MODE
    if isinstance(value, bool):
        raise ScsConfigError(MODE_ERROR % (value,))
    if isinstance(value, int):
        if not 0 <= value <= 0o7777:
            raise ScsConfigError(MODE_ERROR % (value,))
        return value
    text = str(value)
    if text.strip().isdigit():
        return parse_mode(text)
    if not SYMBOLIC_MODE_RE.fullmatch(text):
        raise ScsConfigError(MODE_ERROR % (value,))
    try:
        return AnsibleModule._symbolic_mode_to_octal(  # pylint: disable=protected-access
            os.stat_result((stat.S_IFREG | DEFAULT_FILE_MODE,) + (0,) * 9), text)
    except ValueError:
        raise ScsConfigError(MODE_ERROR % (value,)) from None


def directory_mode(mode):
    """File permission bits -> directory bits: search (x) wherever read is granted."""
    return mode | ((mode & 0o444) >> 2)


def refuse_symlink(path, what):
    if os.path.islink(path):
        raise ScsConfigError("%s %s is a symbolic link; refusing to follow it: point %s at the real location." % (
            what, path, what))


def check_within(path, root):
    """Refuse ``path`` unless it resolves inside ``root`` (symbolic links included)."""
    if root is None:
        return
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise ScsConfigError("dest %s is outside the allowed directory %s (dest_root): choose a dest inside it." % (
            path, root))


def prepare_directory(path, mode, what="dest"):
    """Create ``path`` (and parents) if missing; refuse a symbolic link or anything that is not a directory."""
    refuse_symlink(path, what)
    try:
        os.makedirs(path, mode=directory_mode(mode), exist_ok=True)
    except FileExistsError:
        raise ScsConfigError("%s %s exists and is not a directory: point %s at a directory." % (what, path, what)) from None
    except OSError as err:
        raise ScsConfigError("Cannot create the directory %s: %s." % (path, err.strerror)) from None
    if not stat.S_ISDIR(os.stat(path).st_mode):
        raise ScsConfigError("%s %s is not a directory." % (what, path))


@contextlib.contextmanager
def directory_lock(path, timeout, poll=0.5):
    """Hold an exclusive lock on a directory (flock on the directory itself: no lock file left behind)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ScsConfigError("Another run holds the lock on %s for more than %d seconds; wait for it or raise "
                                         "lock_timeout." % (path, timeout)) from None
                time.sleep(poll)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
