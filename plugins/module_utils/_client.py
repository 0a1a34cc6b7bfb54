# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one HTTP client every module of this collection uses to talk to the SCS REST API.

It knows transport concerns only (authentication, retries, errors, pagination, streaming);
what the endpoints mean lives in the resource helpers next to it.
"""

from __future__ import annotations

import email.utils
import random
import re
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

from ansible_collections.stamus.scs.plugins.module_utils._errors import (
    ScsAuthenticationError,
    ScsConfigError,
    ScsNotFoundError,
    ScsPermissionError,
    ScsProtocolError,
    ScsQueryWindowError,
    ScsServerError,
    ScsTransportError,
    ScsValidationError,
)
from ansible_collections.stamus.scs.plugins.module_utils._files import ShortWriteError, atomic_write_chunks
from ansible_collections.stamus.scs.plugins.module_utils._version import COLLECTION_NAME, COLLECTION_VERSION

RETRY_STATUSES = frozenset((429, 502, 503, 504))
IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
# DRF's 403 details that mean "the token itself was refused", as opposed to a missing role.
AUTH_FAILURE_DETAILS = ("invalid token", "credentials were not provided", "token has expired", "user inactive")
RESULT_WINDOW = 10000
DOWNLOAD_CHUNK = 1 << 20
MAX_RETRY_AFTER = 120.0
MESSAGE_BODY_LIMIT = 300


# An SSLError that is not about the certificate (EOF or reset during the handshake) is a dropped connection.
CERTIFICATE_ERROR_MARKERS = ("certificate verify failed", "certificate_verify_failed", "hostname mismatch",
                             "doesn't match", "not valid for", "certificate has expired", "self signed", "self-signed")


def _is_certificate_error(exc):
    return isinstance(exc, requests.exceptions.SSLError) and any(
        marker in str(exc).lower() for marker in CERTIFICATE_ERROR_MARKERS)


def _tls_reason(exc):
    """The certificate problem itself, without urllib3's connection-pool wrapping."""
    match = re.search(r"certificate verify failed: (.+?)\.? \(_ssl", str(exc))
    return "certificate verify failed: " + match.group(1) if match else str(exc)


def _never_sent(exc):
    """True when the connection was never established, so even a POST can be sent again safely."""
    text = str(exc)
    return isinstance(exc, requests.exceptions.ConnectTimeout) or "NewConnectionError" in text or \
        "Failed to establish a new connection" in text


class _TokenAuth(AuthBase):
    """Sets the header per request; an explicit auth also stops requests from reading ~/.netrc."""

    def __init__(self, token):
        self._header = "Token " + token

    def __call__(self, request):
        request.headers["Authorization"] = self._header
        return request


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


def _html_to_text(text):
    text = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", text)
    text = re.sub(r"(?s)<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", text).strip()


class ScsClient:
    """A requests session bound to one SCS, with the collection's error and retry policy."""

    def __init__(self, url, token, validate_certs=True, ca_path=None, timeout=120.0, retries=3, tenant=None,
                 sleep=time.sleep, backoff_base=0.5, backoff_max=30.0):
        if not HAS_REQUESTS:
            raise ScsConfigError("The Python library 'requests' is required on the host that runs this module.")
        if not token or not str(token).strip():
            raise ScsConfigError("No SCS API token: set the scs_token option or the SCS_TOKEN environment variable.")
        if retries is None or retries < 0:
            raise ScsConfigError("retries must be 0 or more (got %r)." % (retries,))
        if timeout is None or timeout <= 0:
            raise ScsConfigError("timeout must be a positive number of seconds (got %r)." % (timeout,))
        self.base_url = normalize_base_url(url)
        self._token = str(token).strip()
        self.timeout = float(timeout)
        self.retries = int(retries)
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
        self.session.headers["Accept"] = "application/json"
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
        """Remove the token from any text that may reach the user."""
        text = str(text)
        return text.replace(self._token, "********") if self._token else text

    def describe(self, method, path):
        return "%s %s" % (method, urlsplit(self.url(path)).path)

    # -- sending ----------------------------------------------------------------------------------

    def request(self, method, path, params=None, json=None, files=None, stream=False, retry=None, expect_json=True):
        """Send one call; return the response of a 2xx answer or raise a typed ScsError.

        Only idempotent methods are retried unless ``retry`` says otherwise. A POST is never
        repeated once it may have reached the server; one whose connection could not even be
        opened (refused, connect timeout) is sent again, since nothing left.
        """
        method = method.upper()
        call = self.describe(method, path)
        retry = method in IDEMPOTENT_METHODS if retry is None else retry
        headers = {} if expect_json else {"Accept": "*/*"}
        for attempt in range(1, self.retries + 2):
            may_retry = attempt <= self.retries
            try:
                response = self.session.request(
                    method, self.url(path), params=self._params(params), json=json, files=files, headers=headers,
                    timeout=self.timeout, verify=self.verify, stream=stream, allow_redirects=False)
            except requests.exceptions.RequestException as exc:
                if _is_certificate_error(exc):
                    raise ScsTransportError(
                        "%s: TLS verification failed (%s). If SCS uses a private CA, set ca_path (SCS_CA_PATH) to its "
                        "PEM bundle; check that scs_url names the host in the certificate and that it has not expired."
                        % (call, self.scrub(_tls_reason(exc))), method=method, path=path) from None
                if not isinstance(exc, RETRYABLE_EXCEPTIONS):
                    raise ScsTransportError("%s: the request could not be sent (%s)." % (call, self.scrub(exc)),
                                            method=method, path=path) from None
                if may_retry and (retry or _never_sent(exc)):
                    self._sleep(self._backoff(attempt))
                    continue
                raise ScsTransportError(
                    "%s: %s%s. Check that scs_url is right and SCS is reachable; raise timeout for a slow server." % (
                        call, self._transport_reason(exc), self._attempts_note(attempt)),
                    method=method, path=path) from None
            if response.status_code in RETRY_STATUSES and retry and may_retry:
                delay = self._retry_after(response)
                response.close()
                self._sleep(self._backoff(attempt) if delay is None else delay)
                continue
            if not 200 <= response.status_code < 300:
                self._raise_for_status(call, method, path, response, attempt)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def get_json(self, path, params=None):
        return self.decode_json(self.request("GET", path, params=params), "GET", path)

    def send_json(self, method, path, params=None, json=None, files=None):
        return self.decode_json(self.request(method, path, params=params, json=json, files=files), method, path)

    def decode_json(self, response, method, path):
        try:
            return response.json()
        except ValueError:
            raise ScsProtocolError(
                "%s: HTTP %s with a body that is not JSON (%s). Check that scs_url points at the SCS web "
                "interface and not at a proxy or login page." % (
                    self.describe(method, path), response.status_code, self._body_excerpt(response)),
                method=method, path=path, status=response.status_code) from None

    # -- pagination -------------------------------------------------------------------------------

    def get_all(self, path, params=None, page_size=100, limit=None, window=RESULT_WINDOW):
        """Read a DRF paginated list; return ``(results, count, more)``.

        ``more`` tells whether ``limit`` left results unread. Stops at ``limit``. A query that would need results past SCS's result window fails with a
        message on how to narrow it rather than silently returning a truncated list.
        """
        if not 1 <= page_size <= window:
            raise ScsConfigError("page_size must be between 1 and %d (got %s)." % (window, page_size))
        if limit is not None and limit < 0:
            raise ScsConfigError("limit must be 0 or more (got %s)." % limit)
        results, page = [], 1
        while True:
            body = self.get_json(path, dict(params or {}, page=page, page_size=page_size))
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise ScsProtocolError("%s: expected a paginated body with 'results', got %s." % (
                    self.describe("GET", path), type(body).__name__), method="GET", path=path)
            count = body.get("count", len(body["results"]))
            results.extend(body["results"])
            # `next` is only used as a flag: following its absolute URL could send the token to
            # whatever host the server believes it is (proxies, internal names).
            has_next = bool(body.get("next")) and bool(body["results"])
            if limit is not None and len(results) >= limit:
                more = has_next or len(results) > limit or count > limit or count >= window
                return results[:limit], count, more
            # SCS caps `count` at the window, so a full window of results may hide more.
            at_window = count >= window and len(results) >= window
            if at_window or (has_next and (page + 1) * page_size > window):
                raise ScsQueryWindowError(
                    "%s: the query matches %s%s results but SCS can only page through the first %d. Narrow the query "
                    "(shorter time window, a probe, a signature or a qfilter) or set limit to %d or less." % (
                        self.describe("GET", path), "at least " if count >= window else "", count, window, window),
                    method="GET", path=path, detail={"count": count})
            if not has_next:
                return results, count, False
            page += 1

    # -- downloads --------------------------------------------------------------------------------

    def download(self, path, dest, params=None, mode=0o640, verify=None, chunk_size=DOWNLOAD_CHUNK):
        """Stream a file to ``dest`` atomically; return ``{"size", "sha256", "content_type"}``.

        ``verify(tmp_path)`` may check the complete file before it replaces ``dest``; whatever it
        raises propagates. Nothing is left at ``dest`` (nor a temporary file beside it) if the
        transfer or the check fails.
        """
        response = self.request("GET", path, params=params, stream=True, expect_json=False)
        call = self.describe("GET", path)
        expected = response.headers.get("Content-Length")
        try:
            try:
                size, digest = atomic_write_chunks(dest, response.iter_content(chunk_size), mode=mode, verify=verify,
                                                   expected_size=int(expected) if expected and expected.isdigit() else None)
            except (requests.exceptions.RequestException, ConnectionError) as exc:
                raise ScsTransportError("%s: the download broke off (%s); nothing was written to %s." % (
                    call, self._transport_reason(exc), dest), method="GET", path=path) from None
            except ShortWriteError as exc:
                raise ScsTransportError("%s: %s; nothing was written to %s." % (call, exc, dest),
                                        method="GET", path=path) from None
        finally:
            response.close()
        return {"size": size, "sha256": digest, "content_type": response.headers.get("Content-Type")}

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
        if isinstance(exc, requests.exceptions.Timeout):
            return "no answer within %g seconds" % self.timeout
        text = self.scrub(exc)
        if any(marker in text.lower() for marker in ("reset", "aborted", "remotedisconnected", "eof occurred")):
            return "the connection was closed or reset by the server (%s)" % text[:MESSAGE_BODY_LIMIT]
        return "the connection failed (%s)" % text[:MESSAGE_BODY_LIMIT]

    def _body_excerpt(self, response):
        try:
            text = response.text
        except (requests.exceptions.RequestException, ConnectionError):
            return "body unreadable"
        if "html" in (response.headers.get("Content-Type") or "").lower() or text.lstrip().startswith("<"):
            text = _html_to_text(text)
        text = self.scrub(text.strip())
        if len(text) > MESSAGE_BODY_LIMIT:
            text = text[:MESSAGE_BODY_LIMIT] + "..."
        return text or "empty body"

    @staticmethod
    def _json_or_none(response):
        try:
            return response.json()
        except ValueError:
            return None

    def _raise_for_status(self, call, method, path, response, attempt):
        status = response.status_code
        body = self._json_or_none(response)
        detail = body.get("detail") if isinstance(body, dict) else None
        summary = self.scrub(detail) if detail else self._body_excerpt(response)
        head = "%s: HTTP %d (%s)%s" % (call, status, summary, self._attempts_note(attempt))
        kwargs = {"method": method, "path": path, "status": status, "detail": body if isinstance(body, dict) else None}
        if 300 <= status < 400:
            raise ScsProtocolError(
                "%s: HTTP %d redirect to %s. The collection does not follow redirects, so the token is never sent "
                "elsewhere: set scs_url to the final address (for example https:// instead of http://)." % (
                    call, status, _without_userinfo(response.headers.get("Location", "?"))), **kwargs)
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
            raise ScsValidationError("%s. SCS rejected the request: fix the fields named above." % (
                "%s: HTTP 400 (%s)" % (call, self._field_messages(body) if isinstance(body, dict) else summary)), **kwargs)
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
