# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Files Suricata extracted from a flow, fetched from SCS's filestore by sha256 (status, retrieve, download), each
written atomically to ``<dest>`` and kept only when its bytes hash to its name.

Confirmed in scirius suricata/rest_api.py FilestoreViewSet: the routes take a full-match ``[0-9a-f]{64}``; status
answers ``{"status": "available" | "unknown"}``, retrieve ``{"retrieve": "done"}``, download the bytes or 404; the file
is not removed by a download. ``?host=`` is sent on every step (ignored by open-source Scirius; assumed for SCS).
"""

from __future__ import annotations

import os
import re

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsNotFoundError, ScsProtocolError, ScsSizeLimitError
from ansible_collections.stamus.scs.plugins.module_utils._files import has_sha256
from ansible_collections.stamus.scs.plugins.module_utils._pipeline import DigestMismatch
from ansible_collections.stamus.scs.plugins.module_utils._text import printable

SHA256_RE = re.compile(r"[0-9a-f]{64}")  # whole string: fullmatch
STATUS_PATH = "rules/filestore/{sha256}/status/"
RETRIEVE_PATH = "rules/filestore/{sha256}/retrieve/"
DOWNLOAD_PATH = "rules/filestore/{sha256}/download/"
FILENAME_CHARS = 255


def stored_files(fileinfos):
    """``[(sha256 or None, filename, shown value)]`` of the stored files of fileinfo objects, each sha256 once; a
    sha256 that is not 64 lowercase hex digits is None (never used in a URL or a path)."""
    seen, out = set(), []
    for info in fileinfos:
        if info.get("stored") is not True:
            continue
        value = info.get("sha256")
        sha256 = value if isinstance(value, str) and SHA256_RE.fullmatch(value) else None
        key = sha256 or repr(value)
        if key in seen:
            continue
        seen.add(key)
        name = info.get("filename")
        out.append((sha256, printable(name)[:FILENAME_CHARS] if isinstance(name, str) else None,
                    printable(repr(value))[:80]))
    return out


def fetch_file(client, sha256, probe, dest, mode, max_size, time_limit):
    """Fetch the file ``sha256`` to ``dest`` unless a file with that hash is there; return its manifest entry
    (``outcome`` fetched, not_on_probe, too_large or failed). Errors of the token are raised."""
    entry = {"sha256": sha256}
    if has_sha256(dest, sha256):
        return dict(entry, size=os.path.getsize(dest), outcome="fetched")
    params = {"host": probe}
    status = client.get_json(STATUS_PATH.format(sha256=sha256), params)
    if not isinstance(status, dict) or status.get("status") != "available":
        return dict(entry, outcome="not_on_probe", message="SCS has no stored file %s (status %s)." % (
            sha256, printable(repr(status.get("status") if isinstance(status, dict) else status))[:40]))
    retrieved = client.get_json(RETRIEVE_PATH.format(sha256=sha256), params)
    if not isinstance(retrieved, dict) or retrieved.get("retrieve") != "done":
        raise ScsProtocolError("Retrieve of file %s did not answer retrieve=done." % sha256)
    try:
        facts = client.download(DOWNLOAD_PATH.format(sha256=sha256), dest, params=params, mode=mode,
                                expect_sha256=sha256, max_size=max_size, time_limit=time_limit)
    except DigestMismatch as err:
        return dict(entry, outcome="failed", message="SCS sent bytes for file %s whose sha256 is %s; nothing was kept."
                    % (sha256, err))
    except ScsSizeLimitError:
        return dict(entry, outcome="too_large", message="File %s is larger than max_file_size (%d bytes); it was not "
                    "kept. Raise max_file_size to fetch it." % (sha256, max_size))
    except ScsNotFoundError:
        return dict(entry, outcome="not_on_probe", message="SCS answered 404 for file %s after its status said "
                    "available; nothing was kept." % sha256)
    return dict(entry, size=facts["size"], outcome="fetched")
