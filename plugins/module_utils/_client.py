# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one HTTP client every module of this collection uses to talk to the SCS REST API.

It knows transport concerns only (authentication, retries, errors, pagination, streaming);
what the endpoints mean lives in the resource helpers next to it.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json as jsonlib
import math
import os
import random
import re
import ssl
import time
from urllib.parse import quote, urlsplit, urlunsplit

try:
    import requests
    from requests.auth import AuthBase
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib()
    HAS_REQUESTS = False
    AuthBase = object
else:
    HAS_REQUESTS = True
    RETRYABLE_EXCEPTIONS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                            requests.exceptions.ChunkedEncodingError)

from ansible_collections.stamus.scs.plugins.module_utils import _body as body_reader
from ansible_collections.stamus.scs.plugins.module_utils import _pipeline as pipeline
from ansible_collections.stamus.scs.plugins.module_utils import _transport as transport
from ansible_collections.stamus.scs.plugins.module_utils._errors import (
    ScsAuthenticationError,
    ScsConfigError,
    ScsLimitError,
    ScsNotFoundError,
    ScsPermissionError,
    ScsProtocolError,
    ScsQueryWindowError,
    ScsServerError,
    ScsSizeLimitError,
    ScsTransportError,
    ScsValidationError,
)
from ansible_collections.stamus.scs.plugins.module_utils._files import free_space
from ansible_collections.stamus.scs.plugins.module_utils._text import printable, shortened
from ansible_collections.stamus.scs.plugins.module_utils._version import COLLECTION_NAME, COLLECTION_VERSION

RETRY_STATUSES = frozenset((429, 502, 503, 504))
IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
# DRF's 403 details that mean "the token itself was refused", as opposed to a missing role.
AUTH_FAILURE_DETAILS = ("invalid token", "credentials were not provided", "token has expired", "user inactive")
RESULT_WINDOW = 10000
MAX_RETRY_AFTER = 120.0
MESSAGE_BODY_LIMIT = 300
MIB = 1 << 20
# The largest JSON answer read from one call, once decoded: a page of 1,000 large alerts is about 20 MiB.
MAX_JSON_BYTES = 64 * MIB
# Of an error answer only the start is shown: the rest is not read.
ERROR_BODY_BYTES = 64 * 1024
DEFAULT_MAX_DOWNLOAD = 4 << 30
DEFAULT_DOWNLOAD_TIMEOUT = 3600.0
MAX_SECONDS = 7 * 24 * 3600.0  # a week: far above any sane wait, far below what overflows a socket timeout
MAX_RETRIES = 20
JSON_HEADERS = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate"}
# A pcap is taken byte for byte: an encoded one could be a bomb, and its Content-Length would not bound it.
DOWNLOAD_HEADERS = {"Accept": "*/*", "Accept-Encoding": "identity"}
# A token goes into an HTTP header: controls would split it (and http.client would print it in its error).
TOKEN_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")


class _TokenAuth(AuthBase):
    """Sets the header per request; an explicit auth also stops requests from reading ~/.netrc."""

    def __init__(self, token):
        self._header = "Token " + token

    def __call__(self, request):
        request.headers["Authorization"] = self._header
        return request


def check_token(token):
    """The stripped token, or ScsConfigError with a message that never shows it."""
    token = "" if token is None else str(token).strip()
    if not token:
        raise ScsConfigError("No SCS API token: set the scs_token option or the SCS_TOKEN environment variable.")
    if TOKEN_CONTROL_RE.search(token):
        raise ScsConfigError("scs_token contains a line break or another control character, so it cannot be sent in "
                             "an HTTP header (it is not shown here): copy the token again without them.")
    try:
        token.encode("latin-1")
    except UnicodeEncodeError:
        raise ScsConfigError("scs_token contains characters that cannot be sent in an HTTP header (outside Latin-1; "
                             "it is not shown here): copy the token again from the SCS web interface.") from None
    return token


def check_seconds(name, value, maximum=MAX_SECONDS):
    """A finite, positive number of seconds (nan and inf are refused: they break socket timeouts)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not math.isfinite(seconds) or not 0 < seconds <= maximum:
        raise ScsConfigError("%s must be a number of seconds greater than 0 and at most %d (got %r)." % (
            name, maximum, value))
    return seconds


def check_ca_path(path):
    """Refuse a ca_path that TLS could not use, before anything is sent, with a message naming the file."""
    if os.path.isdir(path):
        if not os.access(path, os.R_OK | os.X_OK):
            raise ScsConfigError("ca_path %s is a directory that cannot be read: make it readable by the user that "
                                 "runs Ansible, or point ca_path (SCS_CA_PATH) at a PEM file." % path)
        return
    if not os.path.exists(path):
        raise ScsConfigError("ca_path %s does not exist: set ca_path (or SCS_CA_PATH) to the PEM file of the CA that "
                             "signed the SCS certificate, or unset it to use the system trust store." % path)
    if not os.path.isfile(path):
        raise ScsConfigError("ca_path %s is not a regular file: point ca_path (SCS_CA_PATH) at a PEM file of CA "
                             "certificates." % path)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except ssl.SSLError:
        raise ScsConfigError("ca_path %s holds no certificate in PEM form: give the CA certificate as PEM (text "
                             "starting with -----BEGIN CERTIFICATE-----); convert a DER file with `openssl x509 -inform "
                             "der -in ca.der -out ca.pem`." % path) from None
    except OSError as err:
        raise ScsConfigError("ca_path %s cannot be read (%s): make it readable by the user that runs Ansible." % (
            path, err.strerror or err)) from None


def scrub_secret(text, secret):
    """``text`` made safe to show: ``secret`` (as typed or as Python would quote it) masked, controls escaped."""
    text = str(text)
    secret = str(secret).strip() if secret else ""
    if secret:
        for form in sorted({secret, repr(secret)[1:-1]}, key=len, reverse=True):
            text = text.replace(form, "********")
    return printable(text)


def human_size(size):
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", MIB), ("KiB", 1024)):
        if size >= scale:
            return "%s %s (%d bytes)" % (("%.1f" % (size / scale)).rstrip("0").rstrip("."), unit, size)
    return "%d bytes" % size


def normalize_base_url(url):
    """Return the REST root (``https://host[:port][/prefix]/rest/``) for what users type as scs_url."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ScsConfigError(
            "scs_url must be an absolute http(s) URL such as https://scs.example.net (got %r); "
            "set the scs_url option or the SCS_URL environment variable." % _without_userinfo(url or "")
        )
    if parts.username or parts.password:
        raise ScsConfigError("scs_url must not contain credentials; pass the API token with scs_token or SCS_TOKEN.")
    path = parts.path.rstrip("/")
    if not path.endswith("/rest"):
        path += "/rest"
    return urlunsplit((parts.scheme, parts.netloc, path + "/", "", ""))


def _without_userinfo(url):
    return re.sub(r"//[^/@]*@", "//", str(url))


def path_segment(value):
    """Quote one user-supplied value for use as a single URL path segment."""
    return quote(str(value), safe="")


def _json_or_none(data):
    """The JSON value of ``data`` (bytes), or None when it is missing or not JSON (too deep included)."""
    if data is None:
        return None
    try:
        return jsonlib.loads(data)
    except (ValueError, RecursionError):
        return None


def _html_to_text(text):
    text = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", text)
    text = re.sub(r"(?s)<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", text).strip()


class _DownloadFill:
    """The pipeline's ``fill(view)`` for a download: the body read into the ring's buffers, stopped at the first byte
    past ``max_size`` or past the announced ``length`` (reads never ask for more than one byte beyond them)."""

    def __init__(self, call, path, body, length, max_size):
        self._call, self._path, self._body = call, path, body
        self._limit = max_size if length is None else min(length, max_size)
        self._length = length
        self._max_size = max_size
        self.received = 0

    def __call__(self, view):
        room = self._limit + 1 - self.received
        size = self._body.readinto(view if room >= len(view) else view[:room])
        self.received += size
        if self.received > self._max_size:
            raise ScsSizeLimitError("%s: the file grew past max_size (%s); the transfer was stopped and nothing was "
                                    "kept. Raise max_size if pcaps this large are expected." % (
                                        self._call, human_size(self._max_size)), method="GET", path=self._path)
        if self._length is not None and self.received > self._length:
            raise ScsLimitError("%s: SCS sent more than the %s it announced (Content-Length); the transfer was stopped "
                                "and nothing was kept." % (self._call, human_size(self._length)),
                                method="GET", path=self._path)
        return size


class Page:  # pylint: disable=too-few-public-methods
    """One page of a DRF paginated list: its ``results``, the ``count`` SCS gave (an int), whether SCS offers a next
    page (``has_next``), whether it is the last one read (``last``) and, on the last, whether SCS's result window ended
    the reading with more results behind it (``full``)."""

    def __init__(self, results, count, has_next, last, full):
        self.results, self.count, self.has_next, self.last, self.full = results, count, has_next, last, full


def read_pages(client, path, params, page_size, window=RESULT_WINDOW):
    """The pages of a DRF paginated list (``page``, ``page_size``), as Page objects, up to SCS's result window: the
    one paging loop of the client, the alert poller and the alert stream, each of which decides what a full window
    means for it. Only ``client.get_json`` is used."""
    page, read = 1, 0
    while True:
        body = client.get_json(path, dict(params or {}, page=page, page_size=page_size))
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise ScsProtocolError("GET %s: expected a paginated body with 'results', got %s." % (
                path, type(body).__name__), method="GET", path=path)
        results = body["results"]
        count = body.get("count")
        count = count if isinstance(count, int) and not isinstance(count, bool) else len(results)
        read += len(results)
        # `next` is only used as a flag: following its absolute URL could send the token to whatever host the server
        # believes it is (proxies, internal names).
        has_next = bool(body.get("next")) and bool(results)
        last = not has_next or (page + 1) * page_size > window
        # SCS caps `count` at the window and offers no page past it: a full window of results may hide more.
        full = last and (has_next or (count >= window and read >= window))
        yield Page(results, count, has_next, last, full)
        if last:
            return
        page += 1


class ScsClient:
    """A requests session bound to one SCS, with the collection's error and retry policy."""

    def __init__(self, url, token, validate_certs=True, ca_path=None, timeout=120.0, retries=3, tenant=None,
                 sleep=time.sleep, backoff_base=0.5, backoff_max=30.0):
        if not HAS_REQUESTS:
            raise ScsConfigError("The Python library 'requests' is required on the host that runs this module.")
        self._token = check_token(token)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
            raise ScsConfigError("retries must be a whole number between 0 and %d (got %r)." % (MAX_RETRIES, retries))
        self.timeout = check_seconds("timeout", timeout)
        if validate_certs and ca_path:
            check_ca_path(ca_path)
        self.base_url = normalize_base_url(url)
        self.retries = retries
        self.tenant = tenant
        self._sleep = sleep
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self.warnings = []
        if self.base_url.startswith("http://"):
            self.warnings.append("scs_url uses http://: the API token and the evidence travel unencrypted. Use https://.")
        if not validate_certs:
            self.warnings.append("validate_certs is false: the SCS certificate is not verified and the token can be "
                                 "intercepted. Prefer ca_path (SCS_CA_PATH) for a private CA.")

        self.session = requests.Session()
        self.session.auth = _TokenAuth(self._token)
        self.session.headers["User-Agent"] = "%s/%s python-requests/%s" % (COLLECTION_NAME, COLLECTION_VERSION, requests.__version__)
        # Passed on every call: a session-level `verify` loses to REQUESTS_CA_BUNDLE in the environment.
        self.verify = (ca_path or True) if validate_certs else False

    def close(self):
        self.session.close()

    # -- building calls ---------------------------------------------------------------------------

    def url(self, path):
        path = path.lstrip("/")
        if path and not path.endswith("/"):
            path += "/"  # SCS redirects slash-less URLs, and a redirected POST loses its body
        return self.base_url + path

    def _params(self, params):
        merged = dict(params or {})
        if self.tenant is not None:
            merged.setdefault("tenant", self.tenant)
        return {key: value for key, value in merged.items() if value is not None}

    def scrub(self, text):
        """Any text that may reach the user: the token masked, control characters (from a server) escaped."""
        return scrub_secret(text, self._token)

    def describe(self, method, path):
        return "%s %s" % (method, urlsplit(self.url(path)).path)

    # -- sending ----------------------------------------------------------------------------------

    def request(self, method, path, params=None, json=None, files=None, retry=None, download_deadline=None,
                max_bytes=None):
        """Send one call; return ``(response, body)`` for a 2xx answer or raise a typed ScsError.

        ``body`` is the decoded JSON answer: each attempt, its body included, ends within ``timeout`` seconds, and
        at most ``max_bytes`` (default MAX_JSON_BYTES) are decoded. With ``download_deadline`` (a ``time.monotonic()`` value)
        the call is a download: the response comes back unread (the caller reads and closes it) and ``body`` is None.

        Only idempotent methods are retried unless ``retry`` says otherwise. A POST is never
        repeated once it may have reached the server; one whose connection could not even be
        opened (refused, connect timeout) is sent again, since nothing left.
        """
        method = method.upper()
        call = self.describe(method, path)
        retry = method in IDEMPOTENT_METHODS if retry is None else retry
        download = download_deadline is not None
        for attempt in range(1, self.retries + 2):
            may_retry = attempt <= self.retries
            deadline = download_deadline if download else time.monotonic() + self.timeout
            try:
                response = self.session.request(
                    method, self.url(path), params=self._params(params), json=json, files=files,
                    headers=DOWNLOAD_HEADERS if download else JSON_HEADERS, timeout=self.timeout, verify=self.verify,
                    stream=True, allow_redirects=False)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # Not only requests' own errors: http.client's ValueErrors print header values, so all are scrubbed.
                never_sent = transport.classify(exc)[0] == transport.NEVER_SENT  # so even a POST can be sent again
                self._failed_attempt(call, method, path, exc, attempt, may_retry and (retry or never_sent))
                continue
            if response.status_code in RETRY_STATUSES and retry and may_retry:
                delay = self._retry_after(response)
                response.close()
                self._sleep(self._backoff(attempt) if delay is None else delay)
                continue
            if not 200 <= response.status_code < 300:
                with contextlib.closing(response):
                    body = self._error_body(response, min(deadline, time.monotonic() + self.timeout))
                    self._raise_for_status(call, method, path, response, body, attempt)
            if download:
                return response, None
            try:
                with contextlib.closing(response):
                    return response, self._read_json(call, method, path, response, deadline, max_bytes)
            except (body_reader.BodyBroken, body_reader.DeadlinePassed) as exc:
                self._failed_attempt(call, method, path, exc, attempt, may_retry and retry)
        raise AssertionError("unreachable")  # pragma: no cover

    def get_json(self, path, params=None, max_bytes=None):
        return self.request("GET", path, params=params, max_bytes=max_bytes)[1]

    def send_json(self, method, path, params=None, json=None, files=None):
        return self.request(method, path, params=params, json=json, files=files)[1]

    def _failed_attempt(self, call, method, path, exc, attempt, again):
        """Wait before the next attempt when ``again`` and the failure may pass; otherwise raise its typed error."""
        kind, cause = transport.classify(exc)
        if kind == transport.CERTIFICATE:
            raise ScsTransportError(
                "%s: TLS verification failed (%s). If SCS uses a private CA, set ca_path (SCS_CA_PATH) to its "
                "PEM bundle; check that scs_url names the host in the certificate and that it has not expired."
                % (call, self.scrub(transport.certificate_problem(cause))), method=method, path=path) from None
        if not isinstance(exc, RETRYABLE_EXCEPTIONS + (body_reader.BodyBroken, body_reader.DeadlinePassed)):
            raise ScsTransportError("%s: the request could not be sent (%s)." % (call, self._clip(self.scrub(exc))),
                                    method=method, path=path) from None
        if again:
            self._sleep(self._backoff(attempt))
            return
        raise ScsTransportError(
            "%s: %s%s. %s" % (call, self._transport_reason(exc), self._attempts_note(attempt), self._transport_advice(exc)),
            method=method, path=path) from None

    def _transport_advice(self, exc):
        # A TLS server answers plain HTTP by closing the connection or with TLS bytes, which read as a bad status line.
        if self.base_url.startswith("http://") and any(isinstance(link, (http.client.BadStatusLine, ConnectionResetError))
                                                       for link in transport.exception_chain(exc)):
            return ("scs_url uses http:// and the server closed the connection or answered in another protocol: if SCS "
                    "serves HTTPS on this port, use https://.")
        return "Check that scs_url is right and SCS is reachable; raise timeout for a slow server."

    def _read_json(self, call, method, path, response, deadline, limit=None):
        limit = MAX_JSON_BYTES if limit is None else limit
        body = bytearray()
        try:
            for piece in self._decoded(response, deadline, limit):
                body += piece
        except body_reader.TooLarge:
            raise ScsLimitError(
                "%s: the answer is larger than %s once decoded, the most the collection reads from one API call; "
                "nothing of it was used. Ask for less per call (a smaller page_size or limit)." % (
                    call, human_size(limit)), method=method, path=path, status=response.status_code) from None
        except body_reader.BadEncoding as exc:
            raise ScsProtocolError(
                "%s: HTTP %s with a body that cannot be decoded (%s). Check that scs_url points at SCS and not at a "
                "proxy that re-encodes answers." % (call, response.status_code, self.scrub(exc)),
                method=method, path=path, status=response.status_code) from None
        parsed = _json_or_none(body)
        if parsed is None and body.strip() != b"null":
            raise ScsProtocolError(
                "%s: HTTP %s with a body that is not JSON (%s). Check that scs_url points at the SCS web "
                "interface and not at a proxy or login page." % (call, response.status_code, self._excerpt(body, response)),
                method=method, path=path, status=response.status_code)
        return parsed

    def _decoded(self, response, deadline, limit):
        pieces = body_reader.raw_pieces(response, deadline, self.timeout, self._transport_reason)
        return body_reader.decoded_pieces(pieces, body_reader.content_encoding(response), limit)

    def _error_body(self, response, deadline):
        """The start (ERROR_BODY_BYTES) of an error answer, decoded; None when none of it could be read."""
        body = bytearray()
        try:
            for piece in self._decoded(response, deadline, ERROR_BODY_BYTES):
                body += piece
        except body_reader.TooLarge:
            pass  # the start is enough for the message
        except (body_reader.BodyBroken, body_reader.DeadlinePassed, body_reader.BadEncoding):
            return body or None
        return body

    # -- pagination -------------------------------------------------------------------------------

    def get_all(self, path, params=None, page_size=100, limit=None, window=RESULT_WINDOW):
        """Read a DRF paginated list; return ``(results, count, more)``.

        ``more`` tells whether ``limit`` left results unread. Stops at ``limit``. A query that would need results past SCS's result window fails with a
        message on how to narrow it rather than silently returning a truncated list.
        """
        state = {}
        results = [item for page in self.pages(path, params, page_size, limit, window, state) for item in page]
        return results, state["count"], state["more"]

    def pages(self, path, params=None, page_size=100, limit=None, window=RESULT_WINDOW, state=None):
        """The pages of a DRF paginated list, one list of results at a time, as ``get_all`` reads them (a page is
        only given once it is known not to cross the result window). ``state`` (a dict) gets the ``count`` SCS gave
        and, at the end, ``more``."""
        if not 1 <= page_size <= window:
            raise ScsConfigError("page_size must be between 1 and %d (got %s)." % (window, page_size))
        if limit is not None and limit < 0:
            raise ScsConfigError("limit must be 0 or more (got %s)." % limit)
        state = {} if state is None else state
        read = 0
        for page in read_pages(self, path, params, page_size, window):
            state["count"] = page.count
            if limit is not None and read + len(page.results) >= limit:
                state["more"] = (page.has_next or read + len(page.results) > limit or page.count > limit
                                 or page.count >= window)
                yield page.results[:limit - read]
                return
            read += len(page.results)
            if page.full:
                raise ScsQueryWindowError(
                    "%s: the query matches %s%s results but SCS can only page through the first %d. Narrow the query "
                    "(shorter time window, a probe, a signature or a qfilter) or set limit to %d or less." % (
                        self.describe("GET", path), "at least " if page.count >= window else "", page.count, window,
                        window), method="GET", path=path, detail={"count": page.count})
            yield page.results
        state["more"] = False

    # -- downloads --------------------------------------------------------------------------------

    def download(self, path, dest, params=None, mode=0o640, check=None, accept=None, expect_sha256=None,
                 max_size=DEFAULT_MAX_DOWNLOAD, time_limit=DEFAULT_DOWNLOAD_TIMEOUT, buffer_size=pipeline.BUFFER_SIZE):
        """Stream a file to ``dest`` atomically; return ``{"size", "sha256", "content_type", "summary"}``.

        The body is taken as sent (an encoded one is refused), at most ``max_size`` bytes, within ``time_limit``
        seconds for the whole transfer and ``timeout`` for each read, and only if its Content-Length fits in the
        free space of dest's directory. It goes through the download pipeline (_pipeline.py): received into a small
        ring of buffers of at most ``buffer_size`` bytes, written, hashed and fed to ``check`` (an object with
        ``feed(piece)`` and ``finish() -> summary``, such as _pcap_verify.PcapStream) as it streams; ``accept(summary)``
        may refuse the complete file before it replaces ``dest``; whatever it raises propagates, as does
        pipeline.DigestMismatch for bytes that do not hash to ``expect_sha256``. Nothing is left at
        ``dest`` (nor a temporary file beside it) if the transfer, a limit, the check or the write fails. Limits
        raise ScsLimitError, which no caller retries.
        """
        call = self.describe("GET", path)
        deadline = time.monotonic() + time_limit
        response = self.request("GET", path, params=params, download_deadline=deadline)[0]
        with contextlib.closing(response):
            length = self._download_length(call, path, response, dest, max_size)
            body = body_reader.BodyReader(response, deadline, self._transport_reason)
            fill = _DownloadFill(call, path, body, length, max_size)
            try:
                size, digest, summary = pipeline.stream_to_file(dest, fill, length, mode=mode, check=check, accept=accept,
                                                                expect_sha256=expect_sha256, buffer_size=buffer_size)
            except body_reader.BodyBroken as exc:
                raise ScsTransportError("%s: the download broke off (%s); nothing was written to %s." % (call, exc, dest),
                                        method="GET", path=path) from None
            except body_reader.DeadlinePassed:
                raise ScsLimitError("%s: the download took longer than download_timeout (%g seconds) and was stopped "
                                    "after %s; nothing was kept. Raise download_timeout for a slow link." % (
                                        call, time_limit, human_size(fill.received)), method="GET", path=path) from None
            finally:
                body.close()
        return {"size": size, "sha256": digest, "content_type": response.headers.get("Content-Type"), "summary": summary}

    def _download_length(self, call, path, response, dest, max_size):
        """The announced size (or None), once the encoding, ``max_size`` and the free space allow the download."""
        kwargs = {"method": "GET", "path": path, "status": response.status_code}
        encoding = body_reader.content_encoding(response)
        if encoding not in ("", "identity"):
            raise ScsLimitError(
                "%s: the file came with Content-Encoding %s although the collection asks for it as is (identity); an "
                "encoded body can expand without bound, so it was refused and nothing was written to %s. Check for a "
                "proxy that compresses answers between this host and SCS." % (call, self.scrub(encoding[:40]), dest),
                **kwargs)
        length = body_reader.content_length(response)
        if length is not None and length > max_size:
            raise ScsSizeLimitError("%s: the file is %s, more than max_size (%s); nothing was written to %s. Raise "
                                    "max_size if pcaps this large are expected." % (
                                        call, human_size(length), human_size(max_size), dest), **kwargs)
        directory = os.path.dirname(os.path.abspath(dest))
        free = free_space(directory)
        if length is not None and free is not None and length > free:
            raise ScsLimitError("%s: the file is %s but %s has only %s free; nothing was written. Free space there or "
                                "choose another dest." % (call, human_size(length), directory, human_size(free)), **kwargs)
        return length

    # -- error policy -----------------------------------------------------------------------------

    def _backoff(self, attempt):
        ceiling = min(self._backoff_max, self._backoff_base * (2 ** (attempt - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter spreads retries of parallel workers

    @staticmethod
    def _retry_after(response):
        value = response.headers.get("Retry-After")
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return min(float(value), MAX_RETRY_AFTER)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, min(when.timestamp() - time.time(), MAX_RETRY_AFTER))

    @staticmethod
    def _attempts_note(attempt):
        return " (after %d attempts)" % attempt if attempt > 1 else ""

    def _transport_reason(self, exc):
        if isinstance(exc, body_reader.BodyBroken):
            return str(exc)
        if isinstance(exc, body_reader.DeadlinePassed):
            return "the answer was still arriving after %g seconds (timeout)" % self.timeout
        kind = transport.classify(exc)[0]
        if kind == transport.TIMEOUT:
            return "no answer within %g seconds" % self.timeout
        text = self.scrub(exc)
        if kind == transport.DROPPED:
            return "the connection was closed or reset by the server (%s)" % shortened(text, MESSAGE_BODY_LIMIT)
        return "the connection failed (%s)" % shortened(text, MESSAGE_BODY_LIMIT)

    @staticmethod
    def _clip(text, limit=MESSAGE_BODY_LIMIT):
        return shortened(text, limit)

    def _excerpt(self, body, response):
        """A short, printable text of (the start of) a body: HTML reduced to its text, the token masked."""
        if body is None:
            return "body unreadable"
        text = bytes(body[:ERROR_BODY_BYTES]).decode("utf-8", "replace")
        if "html" in (response.headers.get("Content-Type") or "").lower() or text.lstrip().startswith("<"):
            text = _html_to_text(text)
        return self._clip(self.scrub(text.strip())) or "empty body"

    def _raise_for_status(self, call, method, path, response, raw_body, attempt):
        status = response.status_code
        body = _json_or_none(raw_body)
        # DRF errors are {"detail": ...} or {field: [messages]}; some SCS views answer a bare JSON string, such as
        # alerts_tail's 400 "Wrong ordering value: x".
        detail = body.get("detail") if isinstance(body, dict) else body if isinstance(body, str) else None
        summary = self._clip(self.scrub(detail)) if detail else self._excerpt(raw_body, response)
        head = "%s: HTTP %d (%s)%s" % (call, status, summary, self._attempts_note(attempt))
        kwargs = {"method": method, "path": path, "status": status,
                  "detail": body if isinstance(body, (dict, str)) else None}
        if 300 <= status < 400:
            raise ScsProtocolError(
                "%s: HTTP %d redirect to %s. The collection does not follow redirects, so the token is never sent "
                "elsewhere: set scs_url to the final address (for example https:// instead of http://)." % (
                    call, status, self._clip(self.scrub(_without_userinfo(response.headers.get("Location", "?"))))),
                **kwargs)
        if status == 401 or (status == 403 and any(marker in str(detail).lower() for marker in AUTH_FAILURE_DETAILS)):
            raise ScsAuthenticationError(
                "%s. SCS refused the API token: check scs_token (or SCS_TOKEN); it may be mistyped, revoked or "
                "belong to another SCS. Create a token in the SCS web interface under your account." % head, **kwargs)
        if status == 403:
            raise ScsPermissionError(
                "%s. The token is valid but its user lacks the permission for this call: use a token of a user with "
                "the required SCS role." % head, **kwargs)
        if status == 404:
            raise ScsNotFoundError("%s. The object or route does not exist on this SCS." % head, **kwargs)
        if status == 400:
            if isinstance(body, dict):
                raise ScsValidationError("%s: HTTP 400 (%s). SCS rejected the request: fix the fields named above." % (
                    call, self._field_messages(body)), **kwargs)
            raise ScsValidationError("%s: HTTP 400 (%s). SCS rejected the request as it said." % (call, summary), **kwargs)
        if status == 429:
            raise ScsServerError("%s. SCS is rate limiting; retry later or raise retries." % head, **kwargs)
        if status >= 500:
            raise ScsServerError(
                "%s. The failure is on the SCS side: retrying later may help; the SCS logs say more." % head, **kwargs)
        raise ScsProtocolError("%s. Unexpected answer from SCS." % head, **kwargs)

    def _field_messages(self, body):
        parts = []
        for field, messages in body.items():
            if isinstance(messages, list):
                messages = " ".join(str(message) for message in messages)
            parts.append("%s: %s" % (field, messages))
        return self.scrub("; ".join(parts))[:MESSAGE_BODY_LIMIT * 2]
