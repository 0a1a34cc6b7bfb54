import json

import pytest

from ansible_collections.stamus.scs.plugins.module_utils import _pcap_steps as steps
from ansible_collections.stamus.scs.plugins.module_utils._client import ScsClient
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsProtocolError

TOKEN = "unit-token-77c1"
ALERT = {"_id": "Xk3aQ4kBWK2kIefhuEoN", "host": "probe-01", "flow_id": 42, "src_ip": "10.0.0.5"}


@pytest.fixture
def client(fake_server):
    return ScsClient("https://scs.example.net", TOKEN, sleep=lambda seconds: None)


def test_upload_sends_the_alert_as_multipart_from_memory(client, fake_server):
    fake_server.add("POST", "/rest/rules/filestore_pcap/upload/", json={"upload": "done", "filename": ALERT["_id"]})
    assert steps.upload(client, ALERT, "probe-01") == ALERT["_id"]
    request = fake_server.calls[0]
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"' in request.body and json.dumps(ALERT, separators=(",", ":")).encode() in request.body
    assert request.url.endswith("/upload/?host=probe-01")


@pytest.mark.parametrize("filename", ["../../etc/passwd", "a/b", "", None, "x y", "x\n", "x\r\n"])
def test_unsafe_filename_from_the_server_is_refused(client, fake_server, filename):
    fake_server.add("POST", "/rest/rules/filestore_pcap/upload/", json={"upload": "done", "filename": filename})
    with pytest.raises(ScsProtocolError, match="unsafe or missing filename"):
        steps.upload(client, ALERT, "probe-01")


@pytest.mark.parametrize("alert_id", ["x\n", "Xk3aQ4kBWK2kIefhuEoN\n", "\nx"])
def test_alert_id_with_a_line_break_is_refused(alert_id):
    """A trailing newline passes a `^...$` pattern: ids are matched whole."""
    with pytest.raises(ScsConfigError, match=r"must match \[0-9A-Za-z_-\]\+"):
        steps.prepare_alert(dict(ALERT, _id=alert_id))
    with pytest.raises(ScsConfigError):
        steps.check_filename(alert_id)


def test_missing_done_marker_is_a_failure(client, fake_server):
    fake_server.add("POST", "/rest/rules/filestore_pcap/abc/extract_pcap/", json={"extraction": "pending"})
    with pytest.raises(ScsProtocolError, match="without extraction=done"):
        steps.extract(client, "abc", "probe-01")


@pytest.mark.parametrize("status", [200, 400, 500])
def test_error_bodies_become_step_errors(client, fake_server, status):
    fake_server.add("GET", "/rest/rules/filestore_pcap/abc/retrieve/", status=status, json={"error": "probe unreachable"})
    with pytest.raises(steps.ScsStepError) as info:
        steps.retrieve(client, "abc", "probe-01")
    assert info.value.step == "retrieve" and info.value.rotated is False
    assert "Retrieve of pcap abc on probe probe-01 failed: SCS said 'probe unreachable'" in str(info.value)


def test_rotated_capture_file_is_recognised_as_final(client, fake_server):
    fake_server.add("POST", "/rest/rules/filestore_pcap/abc/extract_pcap/", status=400,
                    json={"error": "capture file /var/log/suricata/fpc/log-1-1.pcap no longer exists (rotated)"})
    with pytest.raises(steps.ScsStepError, match="retrying cannot help") as info:
        steps.extract(client, "abc", "probe-01")
    assert info.value.rotated is True


def test_step_error_text_is_scrubbed_of_the_token(client, fake_server):
    fake_server.add("POST", "/rest/rules/filestore_pcap/abc/extract_pcap/", status=400, json={"error": "bad header Token %s" % TOKEN})
    with pytest.raises(steps.ScsStepError) as info:
        steps.extract(client, "abc", "probe-01")
    assert TOKEN not in str(info.value)


def test_prepare_alert_unwraps_hits_and_names_the_fix():
    alert, probe = steps.prepare_alert({"_id": "a1", "_source": {"host": "p2", "flow_id": 1}})
    assert alert == {"_id": "a1", "host": "p2", "flow_id": 1} and probe == "p2"
    assert steps.prepare_alert(ALERT, probe="other")[1] == "other"
    with pytest.raises(ScsConfigError, match="has no _id"):
        steps.prepare_alert({"host": "p"})
    with pytest.raises(ScsConfigError, match="has no host"):
        steps.prepare_alert({"_id": "a1"})
    with pytest.raises(ScsConfigError, match="must match"):
        steps.prepare_alert({"_id": "../x", "host": "p"})
    with pytest.raises(ScsConfigError, match="must be a dict"):
        steps.prepare_alert("Xk3a")
