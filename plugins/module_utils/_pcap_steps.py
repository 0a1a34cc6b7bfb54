# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The four SCS pcap steps (upload, extract, retrieve, download) with their success checks."""

from __future__ import annotations

import json
import re

from ansible_collections.stamus.scs.plugins.module_utils._alerts import normalize_alert
from ansible_collections.stamus.scs.plugins.module_utils._client import check_seconds, path_segment
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsError, ScsProtocolError
from ansible_collections.stamus.scs.plugins.module_utils._pcap_verify import PcapStream
from ansible_collections.stamus.scs.plugins.module_utils._text import printable

UPLOAD_PATH = "rules/filestore_pcap/upload/"
EXTRACT_PATH = "rules/filestore_pcap/{filename}/extract_pcap/"
STATUS_PATH = "rules/filestore_pcap/{filename}/status/"
RETRIEVE_PATH = "rules/filestore_pcap/{filename}/retrieve/"
DOWNLOAD_PATH = "rules/filestore_pcap/{filename}/download/"
# The key whose value "done" marks each step's success (scs-api.md, section 3).
DONE_MARKERS = {"upload": "upload", "extract": "extraction", "retrieve": "retrieve"}
FILENAME_RE = re.compile(r"[0-9A-Za-z_-]+")  # whole string: fullmatch
# SCS reports a capture file rotated out of the probe's store only in free text; these are the
# phrasings seen from Scirius and the emulator. Such failures are final: retrying cannot help.
ROTATED_RE = re.compile(r"rotat|no longer exist|no such file|does not exist", re.IGNORECASE)


class ScsStepError(ScsError):
    """A pcap step answered ``{"error": ...}`` (``rotated`` tells whether the packets are gone for good)."""

    def __init__(self, message, step, rotated=False, **kwargs):
        super().__init__(message, **kwargs)
        self.step = step
        self.rotated = rotated


def check_filename(filename, what="filename"):
    """Filenames become URL path segments and local file names: only SCS's own alphabet is accepted."""
    if not isinstance(filename, str) or not FILENAME_RE.fullmatch(filename):
        raise ScsConfigError("%s must match [0-9A-Za-z_-]+ (an SCS alert _id), got %r." % (what, filename))
    return filename


def check_probe(probe):
    if not isinstance(probe, str) or not probe.strip():
        raise ScsConfigError("probe must be the probe name (the alert's host field), got %r." % (probe,))
    return probe


def prepare_alert(alert, probe=None):
    """Validate an alert (flat or an ES hit) for upload; return ``(alert, probe)``."""
    if not isinstance(alert, dict):
        raise ScsConfigError("alert must be a dict as returned by stamus.scs.alert_info, got %s." % type(alert).__name__)
    alert = normalize_alert(alert)
    if "_id" not in alert:
        raise ScsConfigError("The alert has no _id: pass an alert as returned by stamus.scs.alert_info (alerts_tail adds _id).")
    check_filename(alert["_id"], "the alert's _id")
    probe = probe if probe is not None else alert.get("host")
    if probe is None:
        raise ScsConfigError("The alert has no host field: set probe to the name of the probe that saw it.")
    return alert, check_probe(probe)


def _done(step, body, call, context):
    if isinstance(body, dict) and body.get("error"):
        _raise_step_error(step, str(body["error"]), context)
    if not isinstance(body, dict) or body.get(DONE_MARKERS[step]) != "done":
        raise ScsProtocolError(
            "%s answered HTTP 200 without %s=done (%s) for %s: the step did not complete. Check the SCS and probe logs."
            % (call, DONE_MARKERS[step], json.dumps(body)[:200], context))
    return body


def _raise_step_error(step, error, context, status=None):
    rotated = step == "extract" and bool(ROTATED_RE.search(error))
    advice = ("The alert's capture file was rotated out of the probe's pcap store: its packets are gone and retrying "
              "cannot help." if rotated else "Check the alert and the probe; the SCS and probe logs say more.")
    raise ScsStepError("%s of %s failed: SCS said '%s'. %s" % (step.capitalize(), context, printable(error), advice),
                       step=step, rotated=rotated, status=status, detail={"error": error})


def _call(client, step, method, path, params, context, files=None):
    try:
        body = client.send_json(method, path, params=params, files=files)
    except ScsError as err:
        if isinstance(err.detail, dict) and err.detail.get("error"):
            _raise_step_error(step, client.scrub(err.detail["error"]), context, status=err.status)
        raise
    return _done(step, body, client.describe(method, path), context)


def upload(client, alert, probe):
    """Upload the alert JSON (from memory, as multipart ``file``); return the filename SCS assigned."""
    context = "alert %s on probe %s" % (alert["_id"], probe)
    payload = json.dumps(alert, separators=(",", ":")).encode("utf-8")
    # requests builds the multipart Content-Type itself; a JSON content type would hide the file from SCS.
    files = {"file": ("%s.json" % alert["_id"], payload, "application/json")}
    body = _call(client, "upload", "POST", UPLOAD_PATH, {"host": probe}, context, files=files)
    filename = body.get("filename")
    if not isinstance(filename, str) or not FILENAME_RE.fullmatch(filename):
        raise ScsProtocolError("Upload of %s returned an unsafe or missing filename %r; refusing to use it in paths."
                               % (context, filename))
    return filename


def extract(client, filename, probe):
    path = EXTRACT_PATH.format(filename=path_segment(filename))
    return _call(client, "extract", "POST", path, {"host": probe}, "pcap %s on probe %s" % (filename, probe))


def retrieve(client, filename, probe):
    path = RETRIEVE_PATH.format(filename=path_segment(filename))
    return _call(client, "retrieve", "GET", path, {"host": probe}, "pcap %s on probe %s" % (filename, probe))


def status(client, filename, probe):
    body = client.get_json(STATUS_PATH.format(filename=path_segment(filename)), {"host": probe})
    return body.get("status") if isinstance(body, dict) else None


def download_limits(params):
    """The checked download options of a module: keyword arguments of download()."""
    max_size = params["max_size"]
    if max_size is None or max_size < 1:
        raise ScsConfigError("max_size must be a size such as 4G, 500M or a number of bytes, at least 1 byte (got %r)."
                             % (max_size,))
    return {"max_size": max_size, "time_limit": check_seconds("download_timeout", params["download_timeout"])}


def download(client, filename, dest, mode=0o640, accept=None, five_tuple=None, **limits):
    """Stream the retrieved pcap to ``dest`` (one-shot on SCS: a second download gets 404) within ``limits``
    (``max_size``, ``time_limit``; see download_limits); return ``{"size", "sha256", "content_type", "pcap"}``.

    The pcap is checked as it streams (``pcap``: its summary, as _pcap_verify.summarize_pcap gives it, with
    ``five_tuple``'s flow looked for when given); a malformed one raises PcapFormatError and is not kept.
    ``accept(pcap)`` may refuse it by raising before it replaces ``dest``. A malformed ``five_tuple`` raises
    ValueError before anything is requested.
    """
    facts = client.download(DOWNLOAD_PATH.format(filename=path_segment(filename)), dest, mode=mode,
                            check=PcapStream(five_tuple), accept=accept, **limits)
    facts["pcap"] = facts.pop("summary")
    return facts
