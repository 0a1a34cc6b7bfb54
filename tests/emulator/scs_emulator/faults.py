"""Fault injection and request log: a WSGI middleware in front of Django.

Faults are held in memory (one worker process, many threads) and matched in insertion order on
method and a regex searched in the path; each match uses one of `count` (-1: forever). The admin
API (/_emulator/) is never faulted nor logged.
"""

import errno
import json
import re
import socket
import struct
import threading
import time
import zlib
from urllib.parse import parse_qsl, urlencode

KINDS = ("status", "html500", "reset", "reset_mid_body", "delay", "truncate", "invalid_json", "no_done", "redirect",
         "extra_result", "gzip", "gzip_bomb", "dribble", "no_length", "huge_json")
SECRET_RE = re.compile(r"token|key|secret|passw|auth", re.IGNORECASE)
REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect", 308: "Permanent Redirect",
           400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
           409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}
HTML500 = (b"\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n"
           b"<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n")
MAX_LOG = 200000
BOMB_SIZE = 512 * 1024 * 1024
_BOMBS = {}
_BOMBS_LOCK = threading.Lock()


class FaultError(ValueError):
    pass


class FaultRegistry:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []
        self._next = 1

    def add(self, spec):
        kind = spec.get("kind", "status")
        if kind not in KINDS:
            raise FaultError("kind must be one of %s" % ", ".join(KINDS))
        method = spec.get("method")
        try:
            path_re = re.compile(spec.get("path") or "")
        except re.error as exc:
            raise FaultError("bad path regex: %s" % exc) from None
        default_status = {"status": 503, "html500": 500, "redirect": 302}.get(kind, 200)
        try:
            fault = {
                "method": method.upper() if method else None,
                "path": path_re.pattern,
                "count": int(spec.get("count", 1)),
                "kind": kind,
                "status": int(spec.get("status") or default_status),
                "retry_after": spec.get("retry_after"),
                "delay": float(spec.get("delay") or 0),
                "body": spec.get("body"),
                "location": spec.get("location"),
                "size": int(spec.get("size") or BOMB_SIZE),
                "chunk": int(spec.get("chunk") or 1),
                "content_length": int(spec["content_length"]) if spec.get("content_length") is not None else None,
                "hits": 0,
            }
        except (TypeError, ValueError) as exc:
            raise FaultError("bad fault value: %s" % exc) from None
        with self._lock:
            fault["id"] = self._next
            self._next += 1
            self._faults.append((path_re, fault))
        return dict(fault)

    def clear(self):
        with self._lock:
            self._faults = []

    def list(self):
        with self._lock:
            return [dict(f) for _r, f in self._faults]

    def match(self, method, path):
        with self._lock:
            for i, (path_re, fault) in enumerate(self._faults):
                if fault["method"] and fault["method"] != method:
                    continue
                if not path_re.search(path):
                    continue
                fault["hits"] += 1
                if fault["count"] > 0:
                    fault["count"] -= 1
                    if fault["count"] == 0:
                        del self._faults[i]
                return dict(fault)
        return None


class RequestLog:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries = []
        self._next = 1

    def add(self, entry):
        with self._lock:
            entry["id"] = self._next
            self._next += 1
            self._entries.append(entry)
            if len(self._entries) > MAX_LOG:
                del self._entries[:len(self._entries) - MAX_LOG]

    def list(self):
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self):
        with self._lock:
            self._entries = []


FAULTS = FaultRegistry()
REQUESTS = RequestLog()


def scrub_query(query):
    pairs = parse_qsl(query or "", keep_blank_values=True)
    return urlencode([(k, "***" if SECRET_RE.search(k) else v) for k, v in pairs])


def _status_line(code):
    return "%d %s" % (code, REASONS.get(code, "Error"))


def _hard_reset(sock):
    """Close the client connection with a TCP RST (SO_LINGER 0)."""
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _fin_close(sock):
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def gzip_bomb(size):
    """A JSON document of ``size`` bytes (a page of one alert with a huge field), gzip-compressed: about size/1000
    bytes. Built once per size, in constant memory."""
    with _BOMBS_LOCK:
        if size not in _BOMBS:
            compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            head = b'{"count": 1, "next": null, "previous": null, "results": [{"_id": "gzipBomb", "pad": "'
            tail = b'"}]}'
            parts, left = [compressor.compress(head)], max(0, size - len(head) - len(tail))
            block = b"a" * (1 << 20)
            while left:
                parts.append(compressor.compress(block[:left]))
                left -= min(left, len(block))
            parts.append(compressor.compress(tail) + compressor.flush())
            _BOMBS[size] = b"".join(parts)
        return _BOMBS[size]


def _body_bytes(body, default):
    """(bytes, content type) for a fault body given as text, JSON value or None."""
    if body is None:
        body = default
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode(), "application/json"
    text = str(body)
    try:
        json.loads(text)
        ctype = "application/json"
    except ValueError:
        ctype = "text/html; charset=utf-8" if text.lstrip().startswith("<") else "text/plain; charset=utf-8"
    return text.encode(), ctype


def _huge_json(size, start_response):
    """A valid JSON object of ``size`` bytes (at least 16), streamed: ``{"Alert": ["xx...x"]}``."""
    head, tail = b'{"Alert": ["', b'"]}'
    fill = max(0, size - len(head) - len(tail))
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(head) + fill + len(tail)))])

    def pieces():
        yield head
        block = b"x" * (1 << 20)
        left = fill
        while left:
            yield block[:left]
            left -= min(left, len(block))
        yield tail
    return pieces()


class EmulatorMiddleware:
    """Applies injected faults and logs every non-admin request."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        started = time.monotonic()
        entry = {"time": time.time(), "method": method, "path": path, "query": scrub_query(environ.get("QUERY_STRING")),
                 "status": None, "duration_ms": None, "fault": None, "auth": bool(environ.get("HTTP_AUTHORIZATION"))}
        fault = FAULTS.match(method, path)

        def logged_start(status, headers, exc_info=None):
            entry["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            if fault is None:
                return self.app(environ, logged_start)
            entry["fault"] = fault["kind"]
            return self._apply(fault, environ, logged_start, entry)
        finally:
            entry["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
            if entry["status"] is None:
                entry["status"] = 0
            REQUESTS.add(entry)

    def _apply(self, fault, environ, start_response, entry):  # pylint: disable=too-many-return-statements
        kind = fault["kind"]
        sock = environ.get("gunicorn.socket")
        if kind == "delay":
            time.sleep(fault["delay"])
            return self.app(environ, start_response)
        if kind == "reset":
            _hard_reset(sock)
            raise ConnectionResetError(errno.ECONNRESET, "connection reset (injected fault)")
        if kind == "status":
            code = fault["status"]
            body, ctype = _body_bytes(fault["body"], {"detail": "%s (injected fault)" % REASONS.get(code, "Error")})
            declared = fault["content_length"] if fault["content_length"] is not None else len(body)
            headers = [("Content-Type", ctype), ("Content-Length", str(declared))]
            if fault["retry_after"] is not None:
                headers.append(("Retry-After", str(fault["retry_after"])))
            start_response(_status_line(code), headers)
            return [body]
        if kind == "html500":
            body, ctype = _body_bytes(fault["body"], HTML500.decode())
            start_response(_status_line(fault["status"]), [("Content-Type", ctype), ("Content-Length", str(len(body)))])
            return [body]
        if kind == "invalid_json":
            body = (fault["body"] if fault["body"] is not None else "<html><body>Gateway says hello</body></html>").encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if kind == "no_done":
            body, _ctype = _body_bytes(fault["body"], {})
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if kind == "extra_result":
            return self._extra_result(fault["body"], environ, start_response)
        if kind == "gzip_bomb":
            body = gzip_bomb(fault["size"])
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        if kind == "huge_json":
            return _huge_json(fault["size"], start_response)
        if kind in ("gzip", "dribble", "no_length"):
            return self._reshaped(fault, environ, start_response, entry)
        if kind == "redirect":
            location = fault["location"]
            if not location:
                qs = environ.get("QUERY_STRING")
                location = "%s://127.0.0.2:%s%s%s" % (environ.get("wsgi.url_scheme", "http"), environ.get("SERVER_PORT", "80"),
                                                      environ.get("PATH_INFO", ""), "?" + qs if qs else "")
            body = b""
            start_response(_status_line(fault["status"]), [("Location", location), ("Content-Length", "0")])
            return [body]
        return self._mangled(kind, environ, start_response, sock, entry)

    def _run_view(self, environ):
        """The real view's response iterator, and its status and headers (captured, not sent yet)."""
        captured = {}

        def capture(status, headers, exc_info=None):  # pylint: disable=unused-argument
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        return self.app(environ, capture), captured

    def _extra_result(self, extra, environ, start_response):
        """The real view's answer with `extra` (a JSON value, null by default) appended to its page's `results`."""
        respiter, captured = self._run_view(environ)
        try:
            raw = b"".join(respiter)
        finally:
            if hasattr(respiter, "close"):
                respiter.close()
        try:
            page = json.loads(raw)
            page["results"].append(extra)
            raw = json.dumps(page).encode()
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # not a page (an error): answered as is
        headers = [(n, v) for n, v in captured.get("headers", []) if n.lower() != "content-length"]
        start_response(captured.get("status", "200 OK"), headers + [("Content-Length", str(len(raw)))])
        return [raw]

    def _reshaped(self, fault, environ, start_response, entry):
        """gzip / dribble / no_length: run the real view, then send its answer compressed on the fly (chunked, no
        Content-Length), slowly (``chunk`` bytes every ``delay`` seconds) or without its Content-Length (chunked)."""
        respiter, captured = self._run_view(environ)
        kind = fault["kind"]
        headers = captured.get("headers", [])
        if kind in ("gzip", "no_length"):
            headers = [(n, v) for n, v in headers if n.lower() != "content-length"]
        if kind == "gzip":
            headers.append(("Content-Encoding", "gzip"))
        start_response(captured.get("status", "200 OK"), headers)
        entry["status"] = int(captured.get("status", "200").split(" ", 1)[0])

        def pieces():
            try:
                for chunk in respiter:
                    yield bytes(chunk)
            finally:
                if hasattr(respiter, "close"):
                    respiter.close()

        def gzipped():
            compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            for chunk in pieces():
                out = compressor.compress(chunk)
                if out:
                    yield out
            yield compressor.flush()

        def dribbled():
            step, pause = max(1, fault["chunk"]), fault["delay"] if fault["delay"] > 0 else 0.5
            for chunk in pieces():
                for offset in range(0, len(chunk), step):
                    yield chunk[offset:offset + step]
                    time.sleep(pause)

        return {"gzip": gzipped, "dribble": dribbled, "no_length": pieces}[kind]()

    def _mangled(self, kind, environ, start_response, sock, entry):
        """truncate / reset_mid_body: run the real view, then cut its response short after about half of it.

        A response with a Content-Length (e.g. a download, however big) is streamed, never held in memory.
        """
        respiter, captured = self._run_view(environ)
        declared = None
        for name, value in captured.get("headers", []):
            if name.lower() == "content-length":
                declared = int(value)
        if declared is None:
            try:
                source = [b"".join(respiter)]
            finally:
                if hasattr(respiter, "close"):
                    respiter.close()
            full = len(source[0])
        else:
            source, full = respiter, declared
        limit = max(1, full // 2) if full else 0
        headers = [(n, v) for n, v in captured.get("headers", []) if n.lower() != "content-length"]
        headers.append(("Content-Length", str(full if full > limit else limit + 1)))
        start_response(captured.get("status", "200 OK"), headers)
        entry["status"] = int(captured.get("status", "200").split(" ", 1)[0])

        def stream():
            sent = 0
            try:
                for chunk in source:
                    piece = bytes(chunk[:limit - sent])
                    sent += len(piece)
                    yield piece
                    if sent >= limit:
                        break
                if not sent:
                    yield b""
            finally:
                if hasattr(source, "close"):
                    source.close()
            time.sleep(0.05)
            if kind == "truncate":
                _fin_close(sock)
                raise BrokenPipeError(errno.EPIPE, "response truncated (injected fault)")
            _hard_reset(sock)
            raise ConnectionResetError(errno.ECONNRESET, "connection reset mid-body (injected fault)")
        return stream()
