# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Alerts as people read them: a compact text table, each alert's time and 5-tuple, and the fetch_alert_pcap command
for an alert.

Every cell comes from SCS, so from traffic: it is made printable (no control character), cut to a width, and used as
data only (the filters that call this return plain strings, which Ansible does not render again).
"""

from __future__ import annotations

import datetime

from ansible_collections.stamus.scs.plugins.module_utils._alert_api import (
    CAPTURE_FILE_FIELD,
    FLOW_ID_FIELD,
    HOST_FIELD,
    TIMESTAMP_FIELD,
)
from ansible_collections.stamus.scs.plugins.module_utils._alert_stream import stamp_ms
from ansible_collections.stamus.scs.plugins.module_utils._alerts import MAX_FLOW_ID, MAX_SIGNATURE_ID
from ansible_collections.stamus.scs.plugins.module_utils._evidence import SAFE_DIRNAME_RE
from ansible_collections.stamus.scs.plugins.module_utils._text import printable, shortened

COLUMNS = ("time (UTC)", "probe", "sid", "signature", "flow_id", "5-tuple", "pcap")
# Widest cell of each column; longer values are cut at a word boundary with "...".
WIDTHS = {"time (UTC)": 19, "probe": 24, "sid": 10, "signature": 60, "flow_id": 20, "5-tuple": 100, "pcap": 3}
ADDRESS_CHARS = 45  # an IPv6 address written in full
MAX_PROBE_NAME = 255
MISSING = "-"


def whole_number(value, maximum):
    """``value`` when it is an int in [0, maximum] (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        return None
    return value


def cell(value, width):
    if value is None or value == "":
        return MISSING
    return shortened(printable(value).strip(), width) or MISSING


def alert_time(alert):
    """The alert's time in UTC (``2026-05-02 09:14:03``), or its ``@timestamp`` as sent when that is not a time."""
    value = alert.get(TIMESTAMP_FIELD)
    millis = stamp_ms(value)
    if millis is None:
        return cell(value, WIDTHS["time (UTC)"])
    try:
        return datetime.datetime.fromtimestamp(millis / 1000.0, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return cell(value, WIDTHS["time (UTC)"])


def endpoint(ip, port):
    address = cell(ip, ADDRESS_CHARS)
    if ":" in address:
        address = "[%s]" % address
    port = whole_number(port, 65535)
    return address if port is None else "%s:%d" % (address, port)


def alert_flow(alert):
    """The alert's 5-tuple as ``TCP 10.0.0.5:51234 -> 203.0.113.7:443``, or "-" when SCS sent none."""
    if all(alert.get(key) in (None, "") for key in ("proto", "src_ip", "dest_ip")):
        return MISSING
    return "%s %s -> %s" % (cell(alert.get("proto"), 10), endpoint(alert.get("src_ip"), alert.get("src_port")),
                            endpoint(alert.get("dest_ip"), alert.get("dest_port")))


def alert_row(alert):
    """One alert as the table's cells, keyed by column."""
    alert = alert if isinstance(alert, dict) else {}
    rule = alert.get("alert") if isinstance(alert.get("alert"), dict) else {}
    sid = whole_number(rule.get("signature_id"), MAX_SIGNATURE_ID)
    flow_id = whole_number(alert.get(FLOW_ID_FIELD), MAX_FLOW_ID)
    return {
        "time (UTC)": alert_time(alert), "probe": cell(alert.get(HOST_FIELD), WIDTHS["probe"]),
        "sid": MISSING if sid is None else str(sid), "signature": cell(rule.get("signature"), WIDTHS["signature"]),
        "flow_id": MISSING if flow_id is None else str(flow_id), "5-tuple": alert_flow(alert),
        "pcap": "yes" if alert.get(CAPTURE_FILE_FIELD) else "no",
    }


def alert_table(alerts):
    """The alerts as lines of a text table: a header, then one aligned line per alert."""
    rows = [alert_row(alert) for alert in alerts or []]
    widths = {column: max([len(column)] + [len(row[column]) for row in rows]) for column in COLUMNS}
    return ["  ".join(row[column].ljust(widths[column]) for column in COLUMNS).rstrip()
            for row in [dict(zip(COLUMNS, COLUMNS))] + rows]


def fetch_commands(alerts, playbook="stamus.scs.fetch_alert_pcap"):
    """One ``ansible-playbook`` command line per flow of the alerts that have a capture file, in the order given.

    Only values checked against strict patterns go into a command: whole numbers, and a probe name that is a safe
    directory name (which holds no shell syntax); an alert without them gets no command.
    """
    commands = []
    for alert in alerts or []:
        if not isinstance(alert, dict) or not alert.get(CAPTURE_FILE_FIELD):
            continue
        rule = alert.get("alert") if isinstance(alert.get("alert"), dict) else {}
        sid = whole_number(rule.get("signature_id"), MAX_SIGNATURE_ID)
        flow_id = whole_number(alert.get(FLOW_ID_FIELD), MAX_FLOW_ID)
        probe = alert.get(HOST_FIELD)
        if sid is None or flow_id is None or not (isinstance(probe, str) and len(probe) <= MAX_PROBE_NAME
                                                  and SAFE_DIRNAME_RE.fullmatch(probe)):
            continue
        command = "ansible-playbook %s -e signature_id=%d -e flow_id=%d -e probe=%s" % (playbook, sid, flow_id, probe)
        if command not in commands:
            commands.append(command)
    return commands
