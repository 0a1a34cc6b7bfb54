# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The download pipeline: a body streamed to a file at disk speed, hashed and checked on the way, replacing its
destination whole or not at all.

The body is received into a small ring of preallocated buffers; each filled buffer goes to a writer, a hasher and
(optionally) a checker, each on its own thread, and comes back to the ring once all three are done with it. Writing
(os.write) and hashing (hashlib) release the GIL, so receiving, writing and hashing overlap instead of taking turns,
and the checker sees the bytes as they pass: nothing is read back from the disk. The writer keeps the write-back
going behind it (_writeback.py), so the final fsync is short.
"""

from __future__ import annotations

import hashlib
import queue
import threading

from ansible_collections.stamus.scs.plugins.module_utils._files import PartFile, write_all
from ansible_collections.stamus.scs.plugins.module_utils._writeback import WriteBack


class DigestMismatch(Exception):
    """The bytes received do not hash to the sha256 they were expected to have (the argument: their sha256)."""


# The ring: BUFFERS buffers of at most BUFFER_SIZE bytes, so a download holds at most 16 MiB of it in memory whatever
# its size; a smaller body gets buffers no larger than itself.
BUFFER_SIZE = 4 << 20
BUFFERS = 4


def ring_plan(length, buffer_size=BUFFER_SIZE, buffers=BUFFERS):
    """``(size, count)`` of the buffers for a body of ``length`` bytes (None: unknown)."""
    if length is None:
        return buffer_size, buffers
    size = max(1, min(buffer_size, length))
    return size, max(1, min(buffers, -(-length // size)))


class _Stage:
    """One consumer of the filled buffers (write, hash or check), on its own thread, taking them in order. After a
    failure (its own or another's) it only hands buffers back."""

    def __init__(self, pipe, work):
        self._pipe = pipe
        self._work = work
        self.inbox = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        pipe, work, inbox = self._pipe, self._work, self.inbox
        while True:
            item = inbox.get()
            if item is None:
                return
            index, piece = item
            if pipe.error is None and not pipe.stopped:
                try:
                    work(piece)
                except BaseException as exc:  # pylint: disable=broad-exception-caught
                    pipe.fail(exc)  # raised again in the receiving thread
            pipe.release(index)


class _Pipe:
    """The ring and its stages: ``run(fill)`` receives until the end of the body, ``close()`` waits for the stages."""

    def __init__(self, size, count, works):
        self._views = [memoryview(bytearray(size)) for _index in range(count)]
        self._free = queue.SimpleQueue()
        for index in range(count):
            self._free.put(index)
        self._users = [0] * count  # stages still holding each buffer
        self._lock = threading.Lock()
        self.error = None
        self.stopped = False
        self._stages = [_Stage(self, work) for work in works]

    def fail(self, exc):
        with self._lock:
            if self.error is None:
                self.error = exc

    def release(self, index):
        with self._lock:
            self._users[index] -= 1
            if self._users[index]:
                return
        self._free.put(index)

    def run(self, fill):
        """Fill free buffers with ``fill(view) -> bytes put in it`` until it returns 0 and pass each to the stages;
        return the size received. A stage's failure is raised here."""
        received = 0
        stages = self._stages
        while True:
            index = self._free.get()
            if self.error is not None:
                raise self.error
            view = self._views[index]
            size = fill(view)
            if not size:
                return received
            received += size
            piece = view if size == len(view) else view[:size]
            self._users[index] = len(stages)
            for stage in stages:
                stage.inbox.put((index, piece))

    def close(self, abort):
        """Wait for the stages: after the buffers in flight are done, or at once (``abort``: they are dropped)."""
        self.stopped = abort
        for stage in self._stages:
            stage.inbox.put(None)
        for stage in self._stages:
            stage.thread.join()
        if not abort and self.error is not None:
            raise self.error


def stream_to_file(dest, fill, length=None, mode=0o640, check=None, accept=None, expect_sha256=None,
                   buffer_size=BUFFER_SIZE, buffers=BUFFERS):
    """Stream a body to ``dest``; return ``(size, sha256 hex, summary)``.

    ``fill(view)`` puts the next bytes of the body into the writable buffer ``view`` and returns how many (0 at the
    end); whatever it raises stops the transfer. ``length`` (the announced size, or None) sizes the buffers.
    ``check`` (optional) is fed every piece in order (``check.feed(piece)``, on its own thread) and ``check.finish()``
    gives the ``summary``; ``accept(summary)`` may then refuse the file by raising (a content check, unrelated to TLS
    verification), and with ``expect_sha256`` bytes of another sha256 raise DigestMismatch. The file then gets ``mode``, is
    fsynced and renamed over ``dest``. On any failure (receiving, writing, hashing, checking, the fsync) nothing is
    left: neither the temporary file nor a partial ``dest``, and an existing ``dest`` is untouched.
    """
    digest = hashlib.sha256()
    with PartFile(dest) as part:
        writeback = WriteBack(part.fd)
        written = [0]

        def write(piece):
            write_all(part.fd, piece)
            written[0] += len(piece)
            writeback.written(written[0])

        works = [write, digest.update] + ([check.feed] if check is not None else [])
        pipe = _Pipe(*ring_plan(length, buffer_size, buffers), works=works)
        try:
            size = pipe.run(fill)
        except BaseException:
            pipe.close(abort=True)
            raise
        pipe.close(abort=False)
        summary = check.finish() if check is not None else None
        if expect_sha256 is not None and digest.hexdigest() != expect_sha256:
            raise DigestMismatch(digest.hexdigest())
        if accept is not None:
            accept(summary)
        part.sync(mode)
        writeback.synced()
        part.commit()
    return size, digest.hexdigest(), summary
