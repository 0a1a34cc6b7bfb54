"""A fake HTTP server for unit tests: a requests transport adapter that answers from a script."""

import io
import json as jsonlib

import pytest
import requests
import trustme
import urllib3
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


@pytest.fixture(scope="session")
def ca_pem(tmp_path_factory):
    """A real PEM CA certificate (the client checks ca_path before using it)."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)
