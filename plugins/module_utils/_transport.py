# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What went wrong on the wire, told by the types of the exceptions requests, urllib3, http.client and ssl raise.

requests wraps urllib3's errors (``ConnectionError(MaxRetryError(reason=NewConnectionError(...)))``), urllib3 wraps
ssl's and the socket's, so the cause is looked for along the whole chain, never in the message text (which holds host
names and paths, and changes between versions).
"""

from __future__ import annotations

import http.client
import ssl

try:
    import requests
    import urllib3
    from urllib3.util.ssl_match_hostname import CertificateError as Urllib3CertificateError
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib()
    HAS_REQUESTS = False
else:
    HAS_REQUESTS = True

# Deep enough for requests -> urllib3 -> ssl/socket, with room for wrappers; a cycle or a pathological chain stops here.
MAX_CHAIN = 16

CERTIFICATE = "certificate"  # the server's certificate was refused: retrying cannot help
NEVER_SENT = "never_sent"  # no connection was made (refused, name not resolved, connect timeout): safe to send again
TIMEOUT = "timeout"  # the connection was made, the answer did not come in time
DROPPED = "dropped"  # the connection was reset or closed (a TLS handshake cut short included)
FAILED = "failed"  # anything else


def exception_chain(exc):
    """``exc`` and the exceptions behind it, nearest first: ``__cause__``, ``__context__``, urllib3's ``reason`` and
    the exceptions given as arguments (how requests wraps urllib3's)."""
    chain, queue, seen = [], [exc], set()
    while queue and len(chain) < MAX_CHAIN:
        current = queue.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        chain.append(current)
        queue += [getattr(current, "reason", None), current.__cause__, current.__context__]
        queue += [arg for arg in current.args if isinstance(arg, BaseException)]
    return chain


def _kinds():
    """Exception types per kind, checked in this order (a certificate error is an ssl.SSLError too)."""
    return (
        (CERTIFICATE, (ssl.SSLCertVerificationError, Urllib3CertificateError)),
        (NEVER_SENT, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError,
                      requests.exceptions.ConnectTimeout)),
        (TIMEOUT, (urllib3.exceptions.TimeoutError, requests.exceptions.Timeout, TimeoutError)),
        (DROPPED, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.RemoteDisconnected,
                   http.client.IncompleteRead, urllib3.exceptions.ProtocolError, ssl.SSLEOFError,
                   ssl.SSLZeroReturnError, requests.exceptions.ChunkedEncodingError)),
    )


def classify(exc):
    """``(kind, cause)``: what ``exc`` means (CERTIFICATE, NEVER_SENT, TIMEOUT, DROPPED or FAILED) and the exception
    of its chain that says so (``exc`` itself for FAILED)."""
    chain = exception_chain(exc)
    for kind, types in _kinds():
        for link in chain:
            if isinstance(link, types):
                return kind, link
    return FAILED, exc


def certificate_problem(cause):
    """The certificate problem in OpenSSL's words (``verify_message``: "certificate has expired", "self-signed
    certificate", "IP address mismatch, ..."), or the hostname check's message."""
    message = getattr(cause, "verify_message", None)
    return "certificate verify failed: %s" % message if message else str(cause)
