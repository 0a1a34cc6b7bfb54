# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Typed errors raised by the SCS client.

Every message says what was called, what came back and what to do. Messages never contain the
API token: the client scrubs it before raising.
"""

from __future__ import annotations

from ansible_collections.stamus.scs.plugins.module_utils._text import printable_tree


class ScsError(Exception):
    """Base class: ``str(err)`` is the full user-facing message."""

    def __init__(self, message, method=None, path=None, status=None, detail=None):
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail

    def to_result(self):
        """The fields modules add next to ``msg`` when they fail."""
        result = {"http_status": self.status, "api_path": self.path}
        if self.detail is not None:
            result["api_detail"] = printable_tree(self.detail)  # a server's error body, shown to the user
        return {key: value for key, value in result.items() if value is not None}


class ScsConfigError(ScsError):
    """The options given to the collection are unusable; nothing was sent."""


class ScsAuthenticationError(ScsError):
    """SCS refused the token (403 with an authentication detail)."""


class ScsPermissionError(ScsError):
    """The token is valid but its user lacks the role for this call."""


class ScsNotFoundError(ScsError):
    """404: unknown object, unknown route, or a page past the end of a list of objects (not of alerts_tail, which
    answers such a page with empty results)."""


class ScsValidationError(ScsError):
    """400 with field messages (``detail`` holds the field -> messages mapping) or a bare message (a string)."""


class ScsServerError(ScsError):
    """5xx answers, including HTML error pages."""


class ScsTransportError(ScsError):
    """No usable HTTP answer: timeout, connection reset, TLS failure, truncated body."""


class ScsProtocolError(ScsError):
    """An answer that does not follow the API contract (bad JSON, missing ``done`` marker, redirect)."""


class ScsLimitError(ScsError):
    """An answer exceeds what the collection accepts (a size cap, an encoding, the free space, a time limit).

    Nothing of it was kept, and sending the same call again cannot help: callers never retry it.
    """


class ScsSizeLimitError(ScsLimitError):
    """A download refused for its size: announced or received past its ``max_size``."""


class ScsQueryWindowError(ScsError):
    """The query matches more results than SCS can page through (the 10,000 window)."""


class ScsEvidenceError(ScsError):
    """Evidence on disk does not match its custody manifest (a file missing, changed or not where the layout puts it),
    or the manifest is not one; nothing was written."""
