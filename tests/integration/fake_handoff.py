"""TheHive 5 and Splunk HEC as far as the evidence_handoff role uses them, over real HTTPS on 127.0.0.1 with the
emulator's test CA, recording every request:

  POST /api/v1/case/<caseId>/observable   multipart: "attachment" (the file) and "_json" (the observable's fields);
                                          ``Authorization: Bearer <key>``; answers 201 with the created observables
                                          (TheHive4py's observable.create_in_case sends this request)
  POST /services/collector/event          JSON ``{"event": ..., "sourcetype": ...}``; ``Authorization: Splunk <token>``;
                                          answers 200 ``{"text": "Success", "code": 0}``

``fail_thehive = (status, body)`` makes the next observable requests fail with that answer. Anything else is 404."""

import email
import email.policy
import hashlib
import json
import os
import re
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "emulator"))

from scs_emulator.cli import make_certs  # noqa: E402  pylint: disable=wrong-import-position

OBSERVABLE_RE = re.compile(r"/api/v1/case/(?P<case>[^/]+)/observable")


def multipart_fields(content_type, body):
    """``{name: (filename, content type, bytes)}`` of a multipart/form-data body, parsed by the email package."""
    message = email.message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body,
                                       policy=email.policy.HTTP)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
    return fields


class FakeHandoff:
    def __init__(self, ca_path, api_key, hec_token):
        self.api_key = api_key
        self.hec_token = hec_token
        self.fail_thehive = None
        self.observables = []  # {"case", "authorization", "organisation", "fields": multipart_fields, "json"}
        self.events = []  # {"authorization", "body"}
        self.calls = []
        self.lock = threading.Lock()
        _ca, cert_path, key_path = make_certs(os.path.dirname(ca_path))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = "https://127.0.0.1:%d" % self.server.server_address[1]
        self._serving = None

    def __enter__(self):
        self._serving = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._serving.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self._serving.join(10)

    def observable(self, case, headers, body):
        if headers.get("Authorization") != "Bearer %s" % self.api_key:
            return 401, {"type": "AuthenticationError", "message": "Authentication failure"}
        if self.fail_thehive:
            return self.fail_thehive
        fields = multipart_fields(headers.get("Content-Type", ""), body)
        observable = json.loads(fields["_json"][2])
        filename, content_type, data = fields["attachment"]
        with self.lock:
            self.observables.append({"case": case, "authorization": headers.get("Authorization"),
                                     "organisation": headers.get("X-Organisation"), "fields": fields,
                                     "json": observable})
            number = len(self.observables)
        return 201, [dict(observable, _id="~%d" % (4096 * number), _type="Observable", attachment={
            "name": filename, "contentType": content_type, "size": len(data), "id": hashlib.sha256(data).hexdigest(),
            "hashes": [hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest(), hashlib.md5(data).hexdigest()]})]

    def event(self, headers, body):
        if headers.get("Authorization") != "Splunk %s" % self.hec_token:
            return 401, {"text": "Invalid token", "code": 4}
        with self.lock:
            self.events.append({"authorization": headers.get("Authorization"), "body": json.loads(body)})
        return 200, {"text": "Success", "code": 0}


def _handler(fake):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # pylint: disable=redefined-builtin
            pass  # the calls are recorded instead

        def _answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):  # pylint: disable=invalid-name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with fake.lock:
                fake.calls.append({"path": self.path, "headers": dict(self.headers), "size": len(body)})
            match = OBSERVABLE_RE.fullmatch(self.path)
            if match:
                self._answer(*fake.observable(match.group("case"), self.headers, body))
            elif self.path == "/services/collector/event":
                self._answer(*fake.event(self.headers, body))
            else:
                self._answer(404, {"type": "NotFound", "message": "no route %s" % self.path})

    return Handler
