#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: alert_pcap
short_description: Fetch the pcaps behind SCS alerts as verified, hashed evidence
version_added: 1.0.0
description:
  - For each alert, runs the SCS pcap chain (upload the alert, extract, retrieve, download) and files the pcap as
    C(<dest>/<probe>/<flow_id>.pcap) beside a custody manifest C(<flow_id>.json).
  - Alerts come from a query resolved exactly like M(stamus.scs.alert_info) does, from a file (O(alerts_file), for
    hand-offs from a SOAR or a ticket), or from a list (O(alerts), the output of M(stamus.scs.alert_info), for a few).
  - Alerts are streamed, in flat memory whatever their number. Each flow is fetched at its first alert with a capture
    file while the rest are still read; the later alerts of a flow are added to its manifest once all are read. Memory
    holds a small record per flow (its probe, flow id and counters), one page of alerts and a bounded queue; the alerts
    themselves go to an unnamed temporary file in the system's temporary directory (E(TMPDIR)) while the task runs,
    which takes about their size in JSON (some 3 KiB per alert). Per-alert results are returned as far as
    O(results) asks.
  - Declarations of Compromise and Sightings (O(event_kinds)) are fetched like alerts, SCS extracting the packets of
    their flow from their C(capture_file).
  - Alerts of the same flow on the same probe share one pcap, since the probe keeps one pcap store per flow.
  - Runs O(workers) chains at once inside one task, so one task handles tens of thousands of alerts.
  - Every pcap is verified as it streams (pcap or pcapng structure, link type, packet count, whether packets of the
    alert's 5-tuple are present) before it is renamed into place; nothing partial or temporary is ever left behind.
  - The role C(stamus.scs.pcap_evidence) runs this module and writes a human report next to the evidence.
  - Idempotent. A pcap whose sha256 matches its manifest is not fetched again. A broken download is retried once by
    running the whole chain again, because SCS serves each extracted pcap only once; a pcap refused by a limit
    (O(max_size), O(download_timeout), free space, a compressed answer) is not.
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - stamus.scs.connection
  - stamus.scs.alert_query
  - stamus.scs.download
  - stamus.scs.file_mode
attributes:
  check_mode:
    support: full
    description:
      - Reads the alerts and the evidence directory and reports what would be fetched; calls no pcap step.
      - The result has the same keys as a real run's; each alert's outcome is C(fetch) where a real run would fetch.
  diff_mode:
    support: none
    description: Binary files are not diffed; RV(results) lists what changed.
options:
  alerts:
    description:
      - Alerts to fetch, as returned by M(stamus.scs.alert_info) (each needs C(_id), C(host) and C(flow_id)), for a few
        alerts at hand. They all go through Ansible's variables; for many alerts, give the query options or
        O(alerts_file) instead.
      - Raw Elasticsearch hits with C(_source) are accepted too.
      - Never echoed back in the result's C(invocation) (which shows how many there were instead).
      - Mutually exclusive with O(alerts_file) and with the query options (O(alert_ids), O(signature_id), O(severity),
        O(flow_id), O(probe), O(qfilter), O(event_kinds), O(since), O(from), O(to)), which select alerts exactly as
        M(stamus.scs.alert_info) does.
      - Prefer O(alert_ids) when the alerts come from elsewhere (an event, a ticket), so that the module reads each
        alert from SCS itself instead of trusting a copy.
    type: list
    elements: dict
  alerts_file:
    description:
      - A file of alerts to fetch, on the host the module runs on, for hand-offs from a SOAR, a ticket or another job;
        read in bounded memory, whatever its size.
      - One of a JSON list of alerts; a JSON object with an C(alerts) list (the registered result of
        M(stamus.scs.alert_info), saved with C(to_json)), whose other members are ignored; or one alert per line
        (NDJSON). Each alert (and each other member of the object) may take at most 1 MiB (1,048,576 characters); the
        file is UTF-8.
      - The file is read twice, first to check it whole, so that a malformed or oversized alert fails the task, naming
        its line, before any call to SCS.
      - Alerts are taken as given, like O(alerts); prefer O(alert_ids) when SCS should be asked for them.
      - Mutually exclusive with O(alerts) and with the query options.
    type: path
  dest:
    description:
      - Evidence directory. Created if missing; each probe gets a subdirectory.
      - Prefer an absolute path. A relative one is relative to the directory Ansible runs the module from, which for
        a local play is the playbook's directory, not the shell's.
      - A symbolic link is refused, for O(dest) and for the probe subdirectories, so that evidence cannot be
        redirected elsewhere.
      - Runs on the same O(dest) take turns (an exclusive lock on the directory), so overlapping scheduled pulls
        never write the same flow at once.
    type: path
    required: true
  dest_root:
    description:
      - When set, O(dest) must resolve inside this directory, for example the evidence area of a shared AWX
        execution node.
      - If not set, the value of the E(SCS_EVIDENCE_ROOT) environment variable is used.
    type: path
  lock_timeout:
    description:
      - Seconds to wait for another run that holds the lock on O(dest).
    type: int
    default: 900
  workers:
    description:
      - How many alert chains run at once. SCS extracts synchronously, so more workers mean more parallel work on
        SCS and the probes.
    type: int
    default: 4
  force:
    description:
      - Fetch again even when a verified pcap is already present.
    type: bool
    default: false
  on_empty:
    description:
      - What to do when SCS finds no packet of the flow and returns a header-only pcap (outcome C(no_packets)).
      - V(warn) keeps nothing and warns; V(keep) keeps the header-only pcap and its manifest; V(fail) keeps nothing and
        counts the alert as a failure.
    type: str
    choices: [fail, warn, keep]
    default: warn
  on_flow_absent:
    description:
      - What to do when the pcap has packets but none of the alert's 5-tuple (C(src_ip), C(src_port), C(dest_ip),
        C(dest_port), C(proto), in either direction, on the outer packet or inside a tunnel, see
        RV(results[].flow_encapsulation)), the outcome C(flow_absent). SCS may have sent another capture, or the flow
        may be hidden from the check (NAT between the probe and the alert's addresses, an encapsulation not decoded).
      - V(warn) keeps the pcap and its manifest and warns; V(keep) keeps them without a warning; V(fail) keeps nothing
        and counts the alert as a failure.
      - No judgement is made when the alert's 5-tuple is incomplete or the pcap's link type cannot be read
        (RV(results[].flow_present) is then V(null)).
    type: str
    choices: [fail, warn, keep]
    default: warn
  fail_on:
    description:
      - V(any) fails the task when any alert failed (outcome C(failed), C(no_packets) with O(on_empty=fail), or
        C(flow_absent) with O(on_flow_absent=fail)), or when ids of O(alert_ids) were not found (RV(not_found)), once
        the alerts found are fetched.
      - In check mode, V(any) fails on what check mode can tell, as a real run would - ids not found and alerts that
        cannot be used (outcome C(failed)).
      - V(none) never fails for per-alert outcomes; check RV(summary).
      - A refused token or a missing permission fails the task in either case.
    type: str
    choices: [any, none]
    default: any
  results:
    description:
      - Which per-alert entries RV(results) holds; RV(summary) always counts every alert.
      - V(all) lists every alert (memory grows with the number of alerts); V(problems) only the alerts whose outcome
        is not C(fetched) or C(present) (nor C(fetch) in check mode), at most 1,000 of them; V(none) no alert.
      - V(auto) is V(all) for a run of at most 1,000 alerts and V(problems) for a larger one, with a warning. The
        number is known before the first fetch (SCS's count of the query, or the alerts of O(alerts_file) or
        O(alerts)).
    type: str
    choices: [auto, all, problems, none]
    default: auto
  custody:
    description:
      - Free-form facts recorded in every manifest under C(collected_by.custody), for example a case number or the
        requester.
    type: dict
  annotated:
    description:
      - Also write C(<flow_id>.annotated.pcapng) beside each pcap kept, for reading in Wireshark or tshark - the same
        packets, bytes and timestamps, with a packet comment (C(frame.comment)) on the packet of each alert of the
        flow (its signature, C([gid:sid:rev]), severity, time and C(_id)), and a section comment naming the manifest
        and the original pcap with its sha256. The original pcap and its sha256 never change; the copy is listed in
        the manifest under C(annotated) (C(file), C(sha256), C(size), C(comments), C(nearest), C(unmatched)).
      - The packet of an alert is the first packet of its 5-tuple (either direction, outer packet or inside a tunnel)
        with the alert's timestamp to the microsecond (Suricata stamps an alert with its packet's time), or to the
        precision its time has. When none has it, the comment goes on the flow's last packet before the alert's time
        and says so (counted in C(nearest)); an alert with no packet of its flow at or before its time, or without a
        usable time or 5-tuple, gets no comment (counted in C(unmatched)).
      - Alert text is quoted as data, control characters escaped, the signature cut to 512 characters.
      - The copy is rewritten, before the manifest, when a later run adds alerts to the flow's manifest; a run that
        finds a pcap C(present) whose manifest lists no copy (or one that is missing or altered) writes it.
      - A packet of more than 262,144 captured bytes cannot be copied (the flow fails with a message).
      - In check mode nothing is written.
    type: bool
    default: false
  sign_key:
    description:
      - A private key to sign every manifest this run writes with, on the host the module runs on. The detached
        signature of the manifest's exact bytes goes to C(<flow_id>.json.sig) beside it; the manifest records the
        key's fingerprint (as C(ssh-keygen -l) shows it) in C(signed_by), never the key.
      - An Ed25519 private key in PEM (PKCS#8; C(openssl genpkey -algorithm ed25519 -out key.pem)) gives the raw
        64-byte Ed25519 signature, which C(openssl pkeyutl -verify -pubin -inkey key.pub.pem -rawin -in 123.json
        -sigfile 123.json.sig) checks.
      - An OpenSSH private key (C(ssh-keygen -t ed25519 -f key)) is signed with C(ssh-keygen -Y sign) in the
        namespace C(stamus.scs-evidence), which C(ssh-keygen -Y verify -n stamus.scs-evidence) checks against an
        allowed_signers file; C(ssh-keygen) must be on the E(PATH). Where coreutils' C(timeout) is installed,
        an C(ssh-keygen) that has not finished after 300 seconds (60 for reading the key) is stopped and the run fails
        with a clear error (for a security key that waits for a touch, for example).
      - The key is checked before any call to SCS (missing, unreadable, another type, encrypted without
        O(sign_key_passphrase)).
      - Each signature is written just before its manifest takes its place. When it cannot be made, the manifest
        is not written - a new flow keeps nothing and fails, a flow whose later alerts were to be merged keeps its
        earlier, signed manifest and fails.
      - A run that merges alerts into a signed manifest first checks that manifest's signature with the same key,
        and refuses (the flow fails) when it does not match, so that a changed manifest is never re-signed.
        A manifest written without O(sign_key) has no signature (an earlier one, which would no longer match, is
        removed). Manifests already present and unchanged are not signed.
      - M(stamus.scs.evidence_verify) (or the C(stamus.scs.verify_evidence) playbook) checks them.
    type: path
  sign_key_passphrase:
    description:
      - The passphrase of an encrypted O(sign_key). Never logged; give it from a vault.
      - For an OpenSSH key it reaches C(ssh-keygen) through an askpass helper that reads it from the child's
        environment, never on a command line or in a file.
    type: str
  flow_events:
    description:
      - Save the events of each fetched flow (SCS's C(events_from_flow_id), that is its alerts, flow, app-layer and
        fileinfo events, at most 100, newest first) beside its pcap as C(<flow_id>.events.json), listed with its sha256 in the
        manifest's C(flow_events) member (C(events), C(types), and C(truncated) when 100 came back).
      - The events are stored as received (sorted keys, indented), never interpreted; at most 16 MiB of them are read.
      - The events are looked for on the flow's probe, within a day of the alert the flow was extracted with.
      - A failure to get them keeps the pcap and records the failure in the manifest (C(outcome), C(message)), with a
        warning; a later run fetches them again.
    type: bool
    default: true
  files:
    description:
      - Fetch the files Suricata extracted from each fetched flow (its C(fileinfo) events with C(stored) true) from
        SCS's filestore (status, retrieve, download) into C(<flow_id>.files/<sha256>), listed in the manifest's C(files)
        member.
      - A file is kept only when its bytes hash to its sha256 and it is at most O(max_file_size); a sha256 that is not
        64 lowercase hex digits is never used. A file that is not kept is listed with its outcome (C(too_large),
        C(not_on_probe) or C(failed)) and a message, leaves nothing behind, and never costs the flow its pcap.
      - A present pcap whose manifest lacks the events or files asked for, or whose listed ones no longer match their
        sha256, gets them fetched and its manifest rewritten.
    type: bool
    default: false
  max_file_size:
    description:
      - The largest extracted file O(files) keeps, counted on the bytes received, for example V(100M) or V(2G).
      - Larger files are listed with the outcome C(too_large) and not kept.
    type: bytes
    default: 100M
notes:
  - A query without O(limit) is read oldest first, page by page, and past the 10,000 results SCS can page through; once
    10,000 are read, the next ones start at the newest C(@timestamp) read (SCS's bounds are inclusive; the alerts read
    at that millisecond are skipped). The end of the time window is pinned when the task starts (O(to), else now), so
    alerts arriving meanwhile do not shift the pages; they are for the next run. Only more than 10,000 alerts in one
    millisecond stop it, with a message to narrow the query.
  - A query with O(limit) (the newest alerts) and a lookup by O(alert_ids) are read whole first, into an unnamed
    temporary file, then fetched.
  - Each flow is extracted with its earliest alert that has a capture file (whose capture file holds the most of the
    flow); for O(alerts) and O(alerts_file) that is chosen in the first of their two readings.
  - If reading the alerts fails midway (SCS unreachable), the pcaps fetched until then are kept with their manifests,
    and the next run finds them C(present).
  - Outcomes per alert are C(fetched), C(present) (already on disk and verified), C(no_packets) (header-only pcap),
    C(flow_absent) (packets, but none of the alert's flow; see O(on_flow_absent)), C(rotated) (the capture file was
    rotated out of the probe's store; never retried), C(no_capture) (the alert has no C(capture_file) because
    conditional pcap was off on its probe; nothing is called) and C(failed). An alert listed twice counts once.
requirements:
  - requests
seealso:
  - module: stamus.scs.alert_info
  - module: stamus.scs.pcap_download
"""

EXAMPLES = r"""
- name: Fetch the pcap of one alert (the vendor script, verified and hashed)
  stamus.scs.alert_pcap:
    scs_url: https://scs.example.net
    scs_token: "{{ vault_scs_token }}"
    signature_id: 2029743
    flow_id: 2077942411095108
    dest: /srv/evidence/INC-4211

- name: Every severity 1 alert of the last day, eight chains at once
  stamus.scs.alert_pcap:
    qfilter: alert.severity:1
    since: 24h
    dest: /srv/evidence/daily
    workers: 8
    custody:
      case: INC-4211
      requested_by: "{{ lookup('ansible.builtin.env', 'USER') }}"
  register: pull

- name: The alert of an incident ticket, read from SCS by id (over all of time) on the probe and flow given
  stamus.scs.alert_pcap:
    alert_ids: [Xk3aQ4kBWK2kIefhuEoN]
    probe: probe-01
    flow_id: 2077942411095108
    dest: /srv/evidence/INC-4211

- name: An incident's flow with its events and the files extracted from it (up to 20 MiB each)
  stamus.scs.alert_pcap:
    signature_id: 2018959
    flow_id: 1259054449405574
    dest: /srv/evidence/INC-4211
    files: true
    max_file_size: 20M
    custody:
      case: INC-4211

- name: The pcaps of the Declarations of Compromise of the last day
  stamus.scs.alert_pcap:
    event_kinds: [doc]
    since: 24h
    dest: /srv/evidence/doc

- name: A month of severity 1 alerts, listing only the alerts that were not fetched
  stamus.scs.alert_pcap:
    severity: 1
    since: 30d
    page_size: 1000
    dest: /srv/evidence/monthly
    results: problems
  register: pull

- name: The alerts a SOAR playbook handed over, one per line (NDJSON)
  stamus.scs.alert_pcap:
    alerts_file: /srv/handoff/INC-4211-alerts.ndjson
    dest: /srv/evidence/INC-4211

- name: Alerts found earlier, keeping going when some fail
  stamus.scs.alert_pcap:
    alerts: "{{ found.alerts }}"
    dest: /srv/evidence/triage
    fail_on: none
  register: pull

- name: The pcaps of an incident with an annotated copy to open in Wireshark (one comment per alert)
  stamus.scs.alert_pcap:
    flow_id: 2077942411095108
    dest: /srv/evidence/INC-4211
    annotated: true
- name: Sign every manifest with an Ed25519 key (openssl genpkey -algorithm ed25519 -out /etc/scs/evidence.pem)
  stamus.scs.alert_pcap:
    signature_id: 2029743
    since: 24h
    dest: /srv/evidence/INC-4211
    sign_key: /etc/scs/evidence.pem

- name: Show the outcome
  ansible.builtin.debug:
    var: pull.summary
"""

RETURN = r"""
results:
  description:
    - One entry per alert, as far as O(results) asks (see RV(results_listed)); an alert listed twice has one entry.
    - Entries of flows come first, in the order their first alert was read, then the alerts that could not be used.
  returned: always
  type: list
  elements: dict
  contains:
    alert_id:
      description: The alert's C(_id).
      type: str
      sample: Xk3aQ4kBWK2kIefhuEoN
    probe:
      description: The probe that saw the alert.
      type: str
      sample: probe-01
    kind:
      description:
        - What the event is; V(alert), V(doc) (a Declaration of Compromise) or V(sighting).
        - V(null) for an entry that is not an event object.
      type: str
      sample: alert
    flow_id:
      description: The alert's flow id.
      type: int
      sample: 2077942411095108
    time:
      description:
        - When the alert fired (its C(@timestamp)), in UTC, as people read it; C(@timestamp) as SCS sent it (printable,
          cut to 19 characters) when it is not a time.
      type: str
      sample: "2026-05-02 09:14:03"
    five_tuple:
      description:
        - The alert's protocol, source and destination (IPv6 addresses in brackets), printable; V(-) when SCS sent
          none.
      type: str
      sample: TCP 10.0.0.5:51234 -> 203.0.113.7:443
    signature_id:
      description: The alert's Suricata signature id (C(alert.signature_id)); V(null) when it has none.
      type: int
      sample: 2029743
    signature:
      description:
        - The alert's signature (C(alert.signature)), control characters escaped, at most 512 characters; V(null)
          when it has none.
      type: str
      sample: ET MALWARE Win32/Emotet CnC Activity (POST) M2
    outcome:
      description: What happened (see the notes); in check mode V(fetch) for what would be fetched.
      type: str
      sample: fetched
    message:
      description:
        - Why, for every outcome but C(fetched) and C(present).
        - For C(fetched) and C(present), which of the flow's events or extracted files were not kept and why, when some
          were not (O(flow_events), O(files)).
      type: str
      sample: null
    pcap:
      description: Path of the pcap, when one is on disk.
      type: str
      sample: /srv/evidence/INC-4211/probe-01/2077942411095108.pcap
    manifest:
      description:
        - Path of the custody manifest, when one is on disk.
        - In it, C(pcap.size) is the size of the pcap file (what C(pcap.sha256) covers) and C(pcap.bytes) the packet
          data in it (the sum of the packets' captured lengths, without the file and per-packet headers).
        - With O(annotated=true), C(annotated) names the annotated copy C(<flow_id>.annotated.pcapng) beside it, with
          its C(sha256), C(size) and how many packet comments it has (C(comments); C(nearest) of them on the nearest
          earlier packet) and how many alerts got none (C(unmatched)).
        - With O(sign_key), its detached signature is beside it, C(<flow_id>.json.sig), and it records the key's
          fingerprint in C(signed_by).
        - With O(flow_events), its C(flow_events) member names C(<flow_id>.events.json) with its C(sha256), C(size),
          C(events), C(types) (events per type) and C(truncated) (100 came back, the most SCS sends); or, when they
          could not be read, C(outcome=failed) and C(message).
        - With O(files), its C(files) member lists each stored file of the flow's fileinfo events with its C(sha256),
          C(filename) (as the event names it, control characters escaped), C(outcome) and, once fetched, C(file)
          (C(<flow_id>.files/<sha256>)) and C(size); the others have a C(message).
      type: str
      sample: /srv/evidence/INC-4211/probe-01/2077942411095108.json
    sha256:
      description: SHA-256 of the pcap.
      type: str
      sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    size:
      description: Size of the pcap in bytes.
      type: int
      sample: 4862
    packets:
      description: Packets in the pcap.
      type: int
      sample: 14
    flow_present:
      description:
        - Whether packets of the alert's 5-tuple are in the pcap; V(null) when that cannot be told.
        - For tunnelled traffic Suricata reports the inner 5-tuple while the pcap holds the outer frames, so every IP
          layer of a packet is tried, outermost first, up to 8 deep. Decoded are VLAN and QinQ tags, MPLS label stacks
          (and Ethernet pseudowires with a control word), PPPoE sessions, GRE (with checksum, key and sequence number;
          IPv4, IPv6, Ethernet, ERSPAN types I, II and III inside), VXLAN (UDP port 4789, as AWS VPC Traffic Mirroring
          sends it), Geneve (UDP port 6081, with options) and IP-in-IP (IPv4 or IPv6 in IPv4 or IPv6).
      type: bool
      sample: true
    flow_encapsulation:
      description:
        - Where the first packet of the alert's 5-tuple was found, outermost first; C([]) on the outer packet. Names
          are C(vxlan), C(geneve), C(gre), C(erspan), C(ip-in-ip), C(mpls) and C(pppoe); ERSPAN comes as
          C([gre, erspan]). VLAN tags are not listed.
        - V(null) when no packet of the flow is in the pcap, or when that cannot be told.
      type: list
      elements: str
      sample: [vxlan]
not_found:
  description: The ids of O(alert_ids) that SCS returned no alert for; empty without O(alert_ids).
  returned: always
  type: list
  elements: str
  sample: []
dropped_other_probes:
  description:
    - How many alerts SCS returned for O(probe) whose C(host) is not exactly that name; they were left out and a
      warning names them. Always V(0) without O(probe).
  returned: always
  type: int
  sample: 0
results_listed:
  description:
    - Which alerts RV(results) lists; V(all), V(problems) or V(none) (what O(results=auto) came to).
  returned: always
  type: str
  sample: all
results_unlisted:
  description:
    - How many alerts with a problem RV(results) leaves out, past the 1,000 it lists in V(problems) mode; RV(summary)
      counts them.
  returned: always
  type: int
  sample: 0
source:
  description:
    - The SCS the evidence comes from, as every manifest of the run records it (C(scs_url), C(scs_version), C(tenant)).
    - In check mode C(scs_version) is V(null), since SCS is not asked for its version.
  returned: always
  type: dict
  sample:
    scs_url: https://scs.example.net/rest/
    scs_version: 41.1.0
    tenant: null
failure:
  description:
    - Why per-alert outcomes fail the task with O(fail_on=any) (how many alerts could not be fetched, and the first
      reason), whether it failed or not; V(null) when no alert failed. Ids not found are in RV(not_found).
  returned: always
  type: str
  sample: "2 of 200 alert(s) could not be fetched: Extract of pcap Xk3aQ4kBWK2kIefhuEoN on probe probe-01 failed: probe busy."
summary:
  description:
    - How many alerts ended in each outcome, and how many alerts and flows there were.
    - C(fetch) counts the alerts whose pcap would be fetched, in check mode; it is V(0) in a real run.
    - C(flow_events) counts the flows whose events were saved (C(fetched)) or could not be (C(failed)); C(files) counts
      the extracted files by outcome (C(fetched), C(too_large), C(not_on_probe), C(failed)). Both are per flow
      fetched in this run (or completed, for a present pcap), and all zero in check mode. A file or an event set that
      was not kept never fails the task; its pcap is kept, the task warns, and the manifest says why.
  returned: always
  type: dict
  sample:
    alerts: 200
    flows: 120
    fetched: 180
    present: 0
    no_packets: 2
    flow_absent: 0
    rotated: 12
    no_capture: 6
    failed: 0
    fetch: 0
    flow_events: {fetched: 102, failed: 0}
    files: {fetched: 14, too_large: 1, not_on_probe: 2, failed: 0}
"""

import getpass
import socket
import tempfile

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.ansible_release import __version__ as ANSIBLE_CORE_VERSION

from ansible_collections.stamus.scs.plugins.module_utils._alert_stream import alert_source
from ansible_collections.stamus.scs.plugins.module_utils._alerts import ALERT_FILTER_OPTIONS, no_match_warning
from ansible_collections.stamus.scs.plugins.module_utils._argspecs import ALERT_QUERY_SPEC, DOWNLOAD_SPEC, FILE_MODE_SPEC, merged
from ansible_collections.stamus.scs.plugins.module_utils._evidence_run import RESULTS_MODES, EvidenceRun, failing_outcomes
from ansible_collections.stamus.scs.plugins.module_utils._module_base import ScsModule
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsError
from ansible_collections.stamus.scs.plugins.module_utils._files import (
    check_within,
    directory_lock,
    file_mode,
    prepare_directory,
    remove_stale_parts,
)
from ansible_collections.stamus.scs.plugins.module_utils._flow_artifacts import ArtifactOptions
from ansible_collections.stamus.scs.plugins.module_utils._pcap_steps import download_limits
from ansible_collections.stamus.scs.plugins.module_utils._signing import SshKeygen, load_signer
from ansible_collections.stamus.scs.plugins.module_utils._version import COLLECTION_NAME, COLLECTION_VERSION

MAX_LISTED = 10
# The options that give the alerts; exactly one of them, or query options.
GIVEN_ALERTS = ("alerts", "alerts_file")


def evidence_source(module, version=None):
    """The SCS the evidence comes from (RV(source)); its version is only known once asked for."""
    return {"scs_url": module.client.base_url, "scs_version": version, "tenant": module.params["tenant"]}


def custody_context(module):
    """Where the evidence comes from and who collected it, for the manifests."""
    context = module.client.get_json("rules/scirius_context/")
    return {
        "source": evidence_source(module, context.get("version") if isinstance(context, dict) else None),
        "collected_by": {"user": getpass.getuser(), "host": socket.gethostname(),
                         "collection": "%s %s" % (COLLECTION_NAME, COLLECTION_VERSION),
                         "ansible_core": ANSIBLE_CORE_VERSION, "custody": module.params["custody"]},
    }


def check_selection(params):
    given = [name for name in GIVEN_ALERTS if params[name] is not None]
    if len(given) > 1 or (given and any(params[name] is not None for name in ALERT_FILTER_OPTIONS)):
        raise ScsConfigError("Give the alerts one way: alerts, alerts_file or query options (%s)." % ", ".join(
            ALERT_FILTER_OPTIONS))


def main():
    module = ScsModule(
        argument_spec=merged(
            ALERT_QUERY_SPEC,
            DOWNLOAD_SPEC,
            FILE_MODE_SPEC,
            alerts={"type": "list", "elements": "dict"},
            alerts_file={"type": "path"},
            dest={"type": "path", "required": True},
            dest_root={"type": "path", "fallback": (env_fallback, ["SCS_EVIDENCE_ROOT"])},
            lock_timeout={"type": "int", "default": 900},
            workers={"type": "int", "default": 4},
            force={"type": "bool", "default": False},
            on_empty={"type": "str", "choices": ["fail", "warn", "keep"], "default": "warn"},
            on_flow_absent={"type": "str", "choices": ["fail", "warn", "keep"], "default": "warn"},
            fail_on={"type": "str", "choices": ["any", "none"], "default": "any"},
            results={"type": "str", "choices": list(RESULTS_MODES), "default": "auto"},
            custody={"type": "dict"},
            annotated={"type": "bool", "default": False},
            sign_key={"type": "path"},
            sign_key_passphrase={"type": "str", "no_log": True},
            flow_events={"type": "bool", "default": True},
            files={"type": "bool", "default": False},
            max_file_size={"type": "bytes", "default": "100M"},
        ),
        mutually_exclusive=[("since", "from")],
        required_one_of=[GIVEN_ALERTS + ALERT_FILTER_OPTIONS],
        required_by={"sign_key_passphrase": "sign_key"},
        supports_check_mode=True,
        unechoed=("alerts",),
    )
    params = module.params
    stale, source, result = [], None, None
    try:
        if not 1 <= params["workers"] <= 64:
            raise ScsConfigError("workers must be between 1 and 64 (got %d)." % params["workers"])
        check_selection(params)
        mode = file_mode(params["mode"])
        limits = download_limits(params)
        artifacts = ArtifactOptions(params["flow_events"], params["files"], params["max_file_size"],
                                    limits["time_limit"])
        check_within(params["dest"], params["dest_root"])
        signer = None
        if params["sign_key"]:
            signer = load_signer(params["sign_key"], params["sign_key_passphrase"], SshKeygen(module))
        reads_scs = all(params[name] is None for name in GIVEN_ALERTS)
        if module.check_mode:
            source = alert_source(module.client if reads_scs else None, params)
            result = EvidenceRun(module.new_client, params["dest"], force=params["force"], workers=params["workers"],
                                 results=params["results"], check_mode=True).run(source)
            result["source"] = evidence_source(module)  # without asking SCS for its version
        else:
            source = alert_source(module.client if reads_scs else None, params)
            prepare_directory(params["dest"], mode)
            run = EvidenceRun(module.new_client, params["dest"], force=params["force"], on_empty=params["on_empty"],
                              mode=mode, workers=params["workers"], context=lambda: custody_context(module),
                              on_flow_absent=params["on_flow_absent"], download_limits=limits,
                              results=params["results"], annotated=params["annotated"], signer=signer,
                              artifacts=artifacts)
            with directory_lock(params["dest"], params["lock_timeout"]):
                stale = remove_stale_parts(params["dest"], depth=1)
                result = run.run(source)
            result["source"] = run.context["source"]
    except ScsError as err:
        module.fail_scs(err)
    except OSError as err:
        module.fail_json(msg="Cannot write %s: %s. Free space or fix the permissions there; the pcaps fetched until "
                             "then are kept with their manifests." % (
                                 err.filename or "the temporary file that holds the run's alerts, in %s (TMPDIR)"
                                 % tempfile.gettempdir(), err.strerror or err))
    finally:
        if source is not None and hasattr(source, "close"):
            source.close()
    report(module, source, result, stale)


def report(module, source, result, stale):
    """Warn, add what the query found, and fail the task as fail_on asks."""
    params, summary = module.params, result["summary"]
    if stale:
        module.warn("Removed %d temporary file(s) that an interrupted run left in %s." % (len(stale), params["dest"]))
    for warning in source.findings.warnings() + result.pop("notes"):
        module.warn(warning)
    if not summary["alerts"] and all(params[name] is None for name in GIVEN_ALERTS + ("alert_ids",)):
        module.warn(no_match_warning(params))
    if params["on_empty"] == "warn" and summary["no_packets"]:
        module.warn("%d alert(s) had no packets in the probe's pcap store (header-only pcap); see results."
                    % summary["no_packets"])
    if params["on_flow_absent"] == "warn" and summary["flow_absent"]:
        module.warn("%d alert(s) got a pcap without any packet of their flow (none of the alert's 5-tuple); it was kept: "
                    "check it before relying on it, see results." % summary["flow_absent"])
    not_found = source.findings.not_found
    result.update(not_found=not_found, dropped_other_probes=source.findings.dropped, failure=None)
    failed = sum(summary[outcome] for outcome in failing_outcomes(params["on_empty"], params["on_flow_absent"]))
    first_failure = result.pop("first_failure")
    problems = []
    if failed:
        result["failure"] = "%d of %d alert(s) could not be fetched: %s" % (
            failed, summary["alerts"], first_failure or "see results.")
        problems.append(result["failure"])
    if not_found:
        problems.append("%d of the alert_ids were not found on SCS: %s%s. Check the ids, the other filters and the time "
                        "window (since, from, to)." % (len(not_found), ", ".join(not_found[:MAX_LISTED]),
                                                       ", ..." if len(not_found) > MAX_LISTED else ""))
    if problems and params["fail_on"] == "any":  # in check mode too: what it found (ids not found, bad alerts) is sure
        # The advice helps only when there is something to accept: alerts fetched (or present) beside the problems.
        partial = summary["fetched"] + summary["present"] + summary["fetch"] > 0
        module.fail_json(msg=" ".join(problems) + (" Set fail_on=none to accept the partial results." if partial else ""),
                         **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
