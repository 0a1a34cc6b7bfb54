"""What the local fakes of other services (AWX, TheHive, Splunk HEC) share: a threaded HTTP or HTTPS server on
127.0.0.1 whose handler answers JSON."""

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonHandler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass  # the fakes record the calls instead

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeServer:
    """Serves ``handler`` (a JsonHandler class) in a thread while in a ``with`` block; over TLS when ``cert`` is
    ``(certificate path, key path)``."""

    def __init__(self, handler, cert=None):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*cert)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = "%s://127.0.0.1:%d" % ("https" if cert else "http", self.server.server_address[1])
        self._serving = None

    def __enter__(self):
        self._serving = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._serving.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self._serving.join(10)
