# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The alerts of one alert_pcap run on disk instead of in memory: one compact JSON line per alert in an unnamed
temporary file, chained per flow, so that a flow's alerts can be read back (for its manifest and its results) while
memory holds 24 bytes per alert."""

from __future__ import annotations

import array
import json
import os
import tempfile
import threading

END = -1


class Chain:
    """Where one flow's alerts are in a spool: first and last entry, and how many (for the flow object to hold)."""

    __slots__ = ("head", "tail", "count")

    def __init__(self):
        self.head = END
        self.tail = END
        self.count = 0


class AlertSpool:
    """Append alerts per chain from one thread; read a chain back from any thread (``entries`` then ``read``).

    The file is created unnamed (O_TMPFILE where the filesystem has it) with mode 0600, so nothing is left behind
    even if the process is killed, and no other user can read the alerts.
    """

    def __init__(self, directory=None):
        self._file = tempfile.TemporaryFile(prefix=".stamus-scs-spool-", dir=directory)  # pylint: disable=consider-using-with
        self._fd = self._file.fileno()
        self._size = 0
        self._offsets = array.array("q")
        self._lengths = array.array("q")
        self._next = array.array("q")
        self._lock = threading.Lock()

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def append(self, chain, alert):
        data = (json.dumps(alert, separators=(",", ":"), sort_keys=True) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.pwrite(self._fd, view, self._size + len(data) - len(view)):]
        with self._lock:
            index = len(self._offsets)
            self._offsets.append(self._size)
            self._lengths.append(len(data))
            self._next.append(END)
            self._size += len(data)
            if chain.tail == END:
                chain.head = index
            else:
                self._next[chain.tail] = index
            chain.tail = index
            chain.count += 1

    def entries(self, chain, skip=0):
        """The places of the chain's alerts appended so far, after the first ``skip``: a list of (offset, length)."""
        out = []
        with self._lock:
            index, remaining = chain.head, chain.count
            while remaining and index != END:
                if skip:
                    skip -= 1
                else:
                    out.append((self._offsets[index], self._lengths[index]))
                index = self._next[index]
                remaining -= 1
        return out

    def read(self, places):
        """The alerts at ``places`` (from ``entries``), one at a time."""
        for offset, length in places:
            yield json.loads(os.pread(self._fd, length, offset))
