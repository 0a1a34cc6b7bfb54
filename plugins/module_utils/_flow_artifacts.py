# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The evidence of a flow beyond its pcap: its events (``<flow_id>.events.json``) and the files extracted from it
(``<flow_id>.files/<sha256>``), fetched once the pcap is down and listed in the manifest as ``flow_events`` and
``files``. A failure here never loses the pcap: it is recorded in the member (``outcome``, ``message``) instead.
"""

from __future__ import annotations

import collections
import os
import threading

from ansible_collections.stamus.scs.plugins.module_utils._alerts import read_keyword_suffix
from ansible_collections.stamus.scs.plugins.module_utils._errors import (
    ScsAuthenticationError,
    ScsConfigError,
    ScsError,
    ScsPermissionError,
)
from ansible_collections.stamus.scs.plugins.module_utils._files import has_sha256, os_error_text, prepare_directory
from ansible_collections.stamus.scs.plugins.module_utils._filestore import SHA256_RE, fetch_file, stored_files
from ansible_collections.stamus.scs.plugins.module_utils._flow_events import fetch_events, fileinfo_events, save_events

FILE_OUTCOMES = ("fetched", "too_large", "not_on_probe", "failed")


class ArtifactOptions:  # pylint: disable=too-few-public-methods
    """What to fetch beside each pcap (alert_pcap's flow_events, files, max_file_size; download_timeout)."""

    def __init__(self, flow_events=True, files=False, max_file_size=100 << 20, time_limit=3600.0):
        if files and (max_file_size is None or max_file_size < 1):
            raise ScsConfigError("max_file_size must be a size such as 100M or a number of bytes, at least 1 byte (got "
                                 "%r)." % (max_file_size,))
        self.flow_events, self.files = flow_events, files
        self.max_file_size, self.time_limit = max_file_size, time_limit

    @property
    def wanted(self):
        return self.flow_events or self.files


def events_name(flow_id):
    return "%d.events.json" % flow_id


def file_name(flow_id, sha256):
    return "%d.files/%s" % (flow_id, sha256)


def _intact(directory, member, name):
    """Whether ``member`` names the file ``name`` and that file still has the sha256 it records."""
    if not isinstance(member, dict) or member.get("file") != name or not isinstance(member.get("sha256"), str):
        return False
    return has_sha256(os.path.join(directory, name), member["sha256"])


def missing(directory, flow_id, manifest, options):
    """Whether an existing manifest lacks an artifact ``options`` asks for, or one it lists no longer matches."""
    if options.flow_events and not _intact(directory, manifest.get("flow_events"), events_name(flow_id)):
        return True
    if options.files:
        files = manifest.get("files")
        if not isinstance(files, list):
            return True
        for entry in files:
            if isinstance(entry, dict) and entry.get("outcome") == "fetched":
                sha256 = entry.get("sha256")
                if not (isinstance(sha256, str) and SHA256_RE.fullmatch(sha256)
                        and _intact(directory, entry, file_name(flow_id, sha256))):
                    return True
    return False


def discard(directory, members):
    """Remove the files ``members`` (a manifest's flow_events, files and annotated copy) name, once no manifest will
    list them."""
    emptied = set()
    for entry in [members.get("flow_events"), members.get("annotated")] + list(members.get("files") or []):
        if isinstance(entry, dict) and entry.get("file"):
            path = os.path.join(directory, entry["file"])
            emptied.add(os.path.dirname(path))
            try:
                os.unlink(path)
            except OSError:
                pass
    for folder in emptied - {directory}:
        try:
            os.rmdir(folder)
        except OSError:
            pass  # not empty: an earlier run's files


class Fetched:  # pylint: disable=too-few-public-methods
    """What fetch() got for one flow: the manifest ``members``, the ``problems`` to warn about, and ``tally`` (keys
    ``flow_events.<outcome>`` and ``files.<outcome>``)."""

    def __init__(self):
        self.members, self.problems, self.tally = {}, [], collections.Counter()


class FlowArtifacts:
    """Fetches the artifacts of flows for one run (the probe filter's keyword is read once, on first use)."""

    def __init__(self, options, mode):
        self.options = options
        self.mode = mode
        self._keyword = None
        self._lock = threading.Lock()

    def _keyword_of(self, client):
        with self._lock:
            if self._keyword is None:
                self._keyword = read_keyword_suffix(client)[0]
            return self._keyword

    def fetch(self, client, flow, alert):
        """The artifacts of ``flow`` (a FlowEvidence) found with ``alert`` (its source alert)."""
        done = Fetched()
        try:
            events = fetch_events(client, flow.flow_id, flow.probe, alert, self._keyword_of(client))
            if self.options.flow_events:
                done.members["flow_events"] = save_events(os.path.join(flow.directory, events_name(flow.flow_id)),
                                                          events, self.mode)
                done.tally["flow_events.fetched"] += 1
        except (ScsAuthenticationError, ScsPermissionError):
            raise
        except (ScsError, OSError) as err:
            message = "The events of flow %d of %s could not be read%s: %s" % (
                flow.flow_id, flow.probe, " nor its files fetched" if self.options.files else "", _reason(err))
            done.problems.append(message)
            done.tally["flow_events.failed"] += 1
            if self.options.flow_events:
                done.members["flow_events"] = {"outcome": "failed", "message": message}
            # No files member: a later run sees it missing and tries again.
            return done
        if self.options.files:
            done.members["files"] = self._files(client, flow, events, done)
        return done

    def _files(self, client, flow, events, done):
        wanted = stored_files(fileinfo_events(events))
        if not wanted:
            return []
        directory = os.path.join(flow.directory, "%d.files" % flow.flow_id)
        prepare_directory(directory, self.mode, what="files directory")
        entries = []
        try:
            for sha256, filename, shown in wanted:
                entry = self._file(client, flow, directory, sha256, shown)
                if filename is not None:
                    entry["filename"] = filename
                if entry["outcome"] == "fetched":
                    entry["file"] = file_name(flow.flow_id, sha256)
                else:
                    done.problems.append(entry["message"])
                done.tally["files." + entry["outcome"]] += 1
                entries.append(entry)
        finally:
            try:
                os.rmdir(directory)  # only when nothing was kept in it
            except OSError:
                pass
        return entries

    def _file(self, client, flow, directory, sha256, shown):
        if sha256 is None:
            return {"sha256": None, "outcome": "failed",
                    "message": "A fileinfo event of flow %d of %s names the sha256 %s, which is not 64 lowercase hex "
                               "digits: it was not used." % (flow.flow_id, flow.probe, shown)}
        try:
            return fetch_file(client, sha256, flow.probe, os.path.join(directory, sha256), self.mode,
                              self.options.max_file_size, self.options.time_limit)
        except (ScsAuthenticationError, ScsPermissionError):
            raise
        except (ScsError, OSError) as err:
            return {"sha256": sha256, "outcome": "failed", "message": "File %s of flow %d was not kept: %s" % (
                sha256, flow.flow_id, _reason(err))}


def _reason(err):
    return os_error_text(err) if isinstance(err, OSError) else str(err)
