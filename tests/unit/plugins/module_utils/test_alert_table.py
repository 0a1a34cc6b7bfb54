from ansible_collections.stamus.scs.plugins.module_utils._alert_table import alert_flow, alert_row, alert_table, fetch_commands
from ansible_collections.stamus.scs.plugins.module_utils._text import shortened

ALERT = {"_id": "Xk3aQ4kBWK2kIefhuEoN", "@timestamp": "2026-05-02T11:14:03.120+0200", "host": "probe-01",
         "flow_id": 2077942411095108, "proto": "TCP", "src_ip": "10.0.0.5", "src_port": 51234,
         "dest_ip": "2001:db8::7", "dest_port": 443, "capture_file": "/var/log/suricata/fpc/log-1.pcap",
         "alert": {"signature_id": 2029743, "signature": "ET MALWARE Beacon"}}


def test_row_shows_utc_time_and_bracketed_ipv6():
    assert alert_row(ALERT) == {"time (UTC)": "2026-05-02 09:14:03", "probe": "probe-01", "sid": "2029743",
                                "signature": "ET MALWARE Beacon", "flow_id": "2077942411095108",
                                "5-tuple": "TCP 10.0.0.5:51234 -> [2001:db8::7]:443", "pcap": "yes"}


def test_malformed_fields_show_as_dashes_or_escaped():
    row = alert_row({"@timestamp": "yesterday\x1b]0;x\x07", "flow_id": True, "alert": {"signature_id": -1},
                     "host": "p\nq", "src_ip": "1.2.3.4", "src_port": "80; rm", "dest_ip": None})
    assert row == {"time (UTC)": "yesterday\\x1b]0...", "probe": "p q", "sid": "-", "signature": "-",
                   "flow_id": "-", "5-tuple": "- 1.2.3.4 -> -", "pcap": "no"}
    assert alert_row("not an alert")["5-tuple"] == alert_flow({}) == "-"


def test_table_aligns_columns_and_commands_need_checked_values():
    lines = alert_table([ALERT, dict(ALERT, host="probe-long-name")])
    assert len(lines) == 3 and len({len(line) for line in lines[1:]}) == 1 and lines[1].endswith("yes")
    assert fetch_commands([ALERT, ALERT, dict(ALERT, host="a b"), dict(ALERT, capture_file=None, flow_id=1)]) == [
        "ansible-playbook stamus.scs.fetch_alert_pcap -e signature_id=2029743 -e flow_id=2077942411095108 -e probe=probe-01"]


def test_shortened_cuts_at_a_word_boundary():
    text = "HTTPSConnectionPool(host='scs', port=443): Max retries exceeded with url: /rest/"
    assert shortened(text, 200) == text
    assert shortened(text, 60) == "HTTPSConnectionPool(host='scs', port=443): Max retries..."
    assert shortened("x" * 50, 10) == "xxxxxxx..."
