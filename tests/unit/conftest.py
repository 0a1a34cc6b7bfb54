"""A fake HTTP server for unit tests: a requests transport adapter that answers from a script, and the real
exceptions of failed connections for it to raise."""

import io
import json as jsonlib
import socket
import ssl
import struct
import threading
import time

import pytest
import requests
import trustme
import urllib3
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from requests.adapters import BaseAdapter


class FakeServer(BaseAdapter):
    """Answers each request with the next matching scripted reply and records every request."""

    def __init__(self):
        super().__init__()
        self.routes = []
        self.calls = []

    def add(self, method, path, status=200, json=None, body=b"", headers=None, times=None, exc=None, handler=None):
        self.routes.append({"method": method, "path": path, "status": status, "json": json, "body": body,
                            "headers": headers or {}, "times": times, "exc": exc, "handler": handler})

    def send(self, request, **kwargs):
        request.verify = kwargs.get("verify")
        self.calls.append(request)
        url = requests.utils.urlparse(request.url)
        for route in self.routes:
            if route["method"] != request.method or route["path"] != url.path or route["times"] == 0:
                continue
            if route["times"] is not None:
                route["times"] -= 1
            if route["exc"] is not None:
                raise route["exc"]
            if route["handler"] is not None:
                return self._response(request, *route["handler"](request))
            body = jsonlib.dumps(route["json"]).encode() if route["json"] is not None else route["body"]
            headers = dict(route["headers"])
            if route["json"] is not None:
                headers.setdefault("Content-Type", "application/json")
            return self._response(request, route["status"], body, headers)
        return self._response(request, 404, b'{"detail": "Not found."}', {"Content-Type": "application/json"})

    @staticmethod
    def _response(request, status, body, headers):
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        # What requests' own adapter does: the body behind a urllib3 response, read as the client reads it.
        response.raw = urllib3.HTTPResponse(body=io.BytesIO(body), headers=headers, status=status, preload_content=False,
                                            decode_content=False)
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass


@pytest.fixture
def fake_server(monkeypatch):
    server = FakeServer()
    original_init = requests.Session.__init__

    def init(session, *args, **kwargs):
        original_init(session, *args, **kwargs)
        session.mount("https://", server)
        session.mount("http://", server)

    monkeypatch.setattr(requests.Session, "__init__", init)
    return server


@pytest.fixture
def ansible_module():
    """A real AnsibleModule with no options: its run_command and get_bin_path are what the modules use."""
    with patch_module_args({}):
        return AnsibleModule(argument_spec={})


@pytest.fixture(scope="session")
def ca_pem(tmp_path_factory):
    """A real PEM CA certificate (the client checks ca_path before using it)."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def _serve(handler):
    """A TCP server on 127.0.0.1 that runs ``handler(connection)`` per connection; returns (socket, port)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def accept():
        while True:
            try:
                connection, _address = listener.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(connection,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    return listener, listener.getsockname()[1]


def _tls_answer(context):
    def handler(connection):
        try:
            wrapped = context.wrap_socket(connection, server_side=True)
            wrapped.recv(65536)
            wrapped.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            wrapped.close()
        except (OSError, ssl.SSLError):
            connection.close()
    return handler


def _reset(connection):
    connection.recv(65536)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST instead of FIN
    connection.close()


@pytest.fixture(scope="session")
def real_errors(tmp_path_factory):
    """The exceptions requests really raises (with their urllib3, ssl and socket causes) for each transport failure,
    from real sockets on 127.0.0.1, to be raised by the fake server."""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("scs.example.net").configure_cert(context)  # not 127.0.0.1: a name mismatch once the CA is trusted
    ca_path = tmp_path_factory.mktemp("real-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused_port = closed.getsockname()[1]
    closed.close()
    servers = {name: _serve(handler) for name, handler in (
        ("tls", _tls_answer(context)), ("eof", lambda connection: connection.close()), ("reset", _reset),
        ("silent", lambda connection: (connection.recv(65536), time.sleep(2), connection.close())))}
    attempts = {
        "refused": ("https://127.0.0.1:%d/" % refused_port, {}),
        "unresolved": ("https://scs.invalid/", {}),
        "untrusted": ("https://127.0.0.1:%d/" % servers["tls"][1], {}),
        "name_mismatch": ("https://127.0.0.1:%d/" % servers["tls"][1], {"verify": str(ca_path)}),
        "tls_eof": ("https://127.0.0.1:%d/" % servers["eof"][1], {}),
        "reset": ("http://127.0.0.1:%d/" % servers["reset"][1], {}),
        "read_timeout": ("http://127.0.0.1:%d/" % servers["silent"][1], {"timeout": 0.2}),
    }
    errors = {}
    for name, (url, options) in attempts.items():
        try:
            requests.adapters.HTTPAdapter().send(requests.Request("GET", url).prepare(),
                                                 **dict({"timeout": 5, "verify": True}, **options))
        except requests.exceptions.RequestException as exc:
            errors[name] = exc
        else:
            raise AssertionError("%s did not fail" % url)
    for listener, _port in servers.values():
        listener.close()
    return errors
