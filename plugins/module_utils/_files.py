# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Atomic, permission-aware file writes: a destination holds either the old file or the whole new one."""

from __future__ import annotations

import hashlib
import os
import tempfile


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


def atomic_write_chunks(dest, chunks, mode=0o640, expected_size=None):
    """Write an iterable of byte chunks to ``dest``; return ``(size, sha256 hex)``.

    The data goes to a hidden temporary file in the destination directory (same filesystem, so
    the final rename is atomic), hashed on the fly, fsynced, given ``mode``, then renamed over
    ``dest``. On any failure the temporary file is removed and the exception propagates.
    ``expected_size`` (e.g. Content-Length) turns a short transfer into a ``ValueError``.
    """
    directory = os.path.dirname(os.path.abspath(dest))
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(dest), suffix=".part")
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                if chunk:
                    handle.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            if expected_size is not None and size != expected_size:
                raise ValueError("received %d of %d bytes" % (size, expected_size))
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp_path, dest)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)
    return size, digest.hexdigest()
