# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Write-back while a large file is written: its pages go to disk as it grows, and leave the page cache once there.

Without it, a download of a few GiB piles up dirty pages that the final fsync must then write in one go (seconds
after the last byte arrived), and pushes whatever else the host had out of its page cache. Linux has
sync_file_range(2) to start writing a range back without waiting for it; posix_fadvise(POSIX_FADV_DONTNEED) then
drops a range that is on disk. Where either is missing, or refused (some filesystems), nothing is done early and the
final fsync writes everything, as it always has: the data is only ever durable once that fsync returns.
"""

from __future__ import annotations

import os
import sys

# Write-back starts every STEP bytes; the STEP before is waited for and dropped, so at most about 2 x STEP of the file
# is in the page cache at any time.
STEP = 32 << 20
SYNC_FILE_RANGE_WAIT_BEFORE = 1
SYNC_FILE_RANGE_WRITE = 2
SYNC_FILE_RANGE_WAIT_AFTER = 4

_LOADED = []  # [sync_file_range or None], once looked up


def _libc_sync_file_range():
    """sync_file_range(fd, offset, nbytes, flags) from the C library (Python's os has none), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes  # pylint: disable=import-outside-toplevel
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (ImportError, OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint)
    function.restype = ctypes.c_int

    def sync_file_range(fd, offset, nbytes, flags):
        if function(fd, offset, nbytes, flags) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
    return sync_file_range


def sync_file_range_function():
    """The platform's sync_file_range (os's if it ever has one, else the C library's), or None where there is none."""
    if not _LOADED:
        _LOADED.append(getattr(os, "sync_file_range", None) or _libc_sync_file_range())
    return _LOADED[0]


def _drop_cached(fd, offset, length):
    """Drop ``length`` bytes (0: to the end) of the file from ``offset`` from the page cache; clean pages only."""
    fadvise = getattr(os, "posix_fadvise", None)
    if fadvise is None:
        return
    try:
        fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass  # only advice: the pages stay cached


class WriteBack:
    """Told after each write how much of ``fd`` is written, it keeps the write-back going behind the writer."""

    def __init__(self, fd, step=STEP):
        self._fd = fd
        self._step = step
        self._sync = sync_file_range_function()
        self._started = 0  # write-back started for bytes [0, started)
        self._dropped = 0  # bytes [0, dropped) are on disk and out of the page cache

    @property
    def active(self):
        return self._sync is not None

    def written(self, total):
        """``total`` bytes of the file are written: every STEP, start writing the newest ones back, and wait for and
        drop the STEP before them (started one STEP ago, so usually on disk already)."""
        if self._sync is None or total - self._started < self._step:
            return
        try:
            self._sync(self._fd, self._started, total - self._started, SYNC_FILE_RANGE_WRITE)
            if self._started > self._dropped:
                self._sync(self._fd, self._dropped, self._started - self._dropped,
                           SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER)
                _drop_cached(self._fd, self._dropped, self._started - self._dropped)
                self._dropped = self._started
        except OSError:
            self._sync = None  # refused here (a filesystem without it, a pipe): the final fsync writes everything
            return
        self._started = total

    def synced(self):
        """The file was fsynced: drop what is still cached of it (all on disk now), if write-back was at work."""
        if self._started:
            _drop_cached(self._fd, self._dropped, 0)
