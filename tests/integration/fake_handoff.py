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
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "emulator"))

from fake_http import FakeServer, JsonHandler  # noqa: E402  pylint: disable=wrong-import-position
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


class FakeHandoff(FakeServer):
    def __init__(self, ca_path, api_key, hec_token):
        self.api_key = api_key
        self.hec_token = hec_token
        self.fail_thehive = None
        self.observables = []  # {"case", "authorization", "organisation", "fields": multipart_fields, "json"}
        self.events = []  # {"authorization", "body"}
        self.calls = []
        self.lock = threading.Lock()
        _ca, cert_path, key_path = make_certs(os.path.dirname(ca_path))
        super().__init__(_handler(self), cert=(cert_path, key_path))

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
    class Handler(JsonHandler):
        def do_POST(self):  # pylint: disable=invalid-name
            body = self.read_body()
            with fake.lock:
                fake.calls.append({"path": self.path, "headers": dict(self.headers), "size": len(body)})
            match = OBSERVABLE_RE.fullmatch(self.path)
            if match:
                self.answer(*fake.observable(match.group("case"), self.headers, body))
            elif self.path == "/services/collector/event":
                self.answer(*fake.event(self.headers, body))
            else:
                self.answer(404, {"type": "NotFound", "message": "no route %s" % self.path})

    return Handler
