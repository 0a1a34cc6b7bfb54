"""Each alert's timestamp is the timestamp of a packet of its flow in the pcap the emulator serves for it, as Suricata
stamps an alert with the time of the packet that triggered it (what the annotated pcapng of alert_pcap relies on)."""

import datetime

from scs_emulator import pcapstore
from scs_emulator.testing import Emulator

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def microseconds(text):
    moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    return (moment - EPOCH) // datetime.timedelta(microseconds=1)


def unmatched(emu, alerts):
    """The alerts (with a capture file) that have no packet of their 5-tuple at their time in their pcap."""
    missing = []
    for alert in alerts:
        if not alert.get("capture_file"):
            continue
        key = pcapstore.alert_key(alert)
        times = {sec * 1000000 + usec for sec, usec, frame in pcapstore.read_pcap(emu.expected_pcap(alert["_id"]))
                 if key in pcapstore.frame_keys(frame)}
        assert times, "no packet of the flow of %s" % alert["_id"]
        if microseconds(alert["timestamp"]) not in times:
            missing.append(alert["_id"])
    return missing


def test_seeded_alerts_are_stamped_with_a_packet_of_their_flow(clean_emu):
    alerts = [alert for alert in clean_emu.alerts("_exists_:capture_file") if alert["event_type"] == "alert"][:80]
    assert len(alerts) >= 20
    assert unmatched(clean_emu, alerts) == []


def test_new_alerts_same_flow_and_tunnelled_are_stamped_with_a_packet_of_their_flow(fresh_emu):
    alerts = fresh_emu.add_alerts(probe="probe-01", count=4, kind="same_flow")
    alerts += fresh_emu.add_alerts(probe="probe-01", count=3)
    for encapsulation in ("vxlan", "gre", "mpls"):
        alerts += fresh_emu.add_alerts(probe="probe-01", count=2, encapsulation=encapsulation)
    assert unmatched(fresh_emu, alerts) == []


def test_packets_appended_to_an_indexed_file_before_it_rotates_are_extracted():
    """A store file the index already knows, that grows and then rotates within one write (new flows): its new packets
    are found too (the index learned only the newest file's growth, so an alert's own packet could be missing)."""
    with Emulator(tls=False, pcap="all", extra_args=["--pcap-file-size", "3000", "--pcap-total-size", "100000000"]) as emu:
        for _round in range(4):
            known = emu.add_alerts(probe="probe-01", count=1)
            emu.expected_pcap(known[0]["_id"])  # the index learns the current files
            alerts = emu.add_alerts(probe="probe-01", count=3, kind="same_flow")
            assert unmatched(emu, alerts) == []
