#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: evidence_bundle
short_description: Bundle one flow's evidence into a reproducible, verified tar.gz
version_added: 1.1.0
description:
  - Reads the custody manifest that M(stamus.scs.alert_pcap) wrote for one flow (C(<dest>/<probe>/<flow_id>.json)),
    checks every file it lists against its sha256, and writes a tar.gz of the manifest, those files and the
    manifest's detached signature C(<flow_id>.json.sig) when there is one.
  - The files checked are those of every manifest member with a C(file) and a C(sha256) (C(pcap), C(flow_events),
    C(annotated), each fetched entry of C(files)). Each path must be one of the evidence layout's names for the
    manifest's flow, beside it (C(<flow_id>.pcap), C(<flow_id>.events.json), C(<flow_id>.files/<sha256>),
    C(<flow_id>.annotated.pcapng)); any other, a symbolic link, a missing file or one whose size or sha256 differs
    from the manifest fails the task with a message naming the file, and nothing is written.
  - Reproducible. The same evidence gives the same bytes whenever and wherever it is bundled, with the same zlib,
    so RV(sha256) identifies the evidence. Members are under one top directory named after the probe (extracting a
    bundle recreates the evidence layout), in a fixed order (the manifest, its signature, then the files by name),
    with fixed metadata (mtime from the manifest's C(recorded) time or 0, uid and gid 0, no owner names, modes 0644
    and 0755). The gzip header holds no file name and mtime 0.
  - Streamed. Files are read and compressed 1 MiB at a time, so memory stays flat for a pcap of many GiB. The bundle
    is written to a temporary file beside O(bundle), then renamed into place. Nothing partial is ever left.
  - Idempotent. An existing O(bundle) with the same bytes is left alone (C(changed=false)).
  - Caps. A manifest larger than 256 MiB and a signature larger than 64 KiB are refused. RV(signatures) holds at most
    50 distinct signature texts, each cut to 1,024 characters, with control characters escaped.
  - Needs no SCS connection; it runs where the evidence is.
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - stamus.scs.file_mode
attributes:
  check_mode:
    support: full
    description:
      - In check mode every file is read and checked and the bundle's bytes are computed, not written.
      - The directory of O(bundle) may be missing in check mode, as a task before may be about to create it.
  diff_mode:
    support: none
    description: Binary files are not diffed.
options:
  manifest:
    description:
      - The flow's custody manifest, C(<dest>/<probe>/<flow_id>.json) as M(stamus.scs.alert_pcap) wrote it
        (RV(stamus.scs.alert_pcap#module:results[].manifest)).
    type: path
    required: true
  bundle:
    description:
      - The tar.gz to write, or an existing directory (or a path ending in C(/)) to write C(<probe>-<flow_id>.tar.gz)
        into. Its directory must exist.
      - It may not be a symbolic link, nor one of the files it bundles.
    type: path
    required: true
  checksum_file:
    description:
      - Also write C(<bundle>.sha256) beside the bundle, one line in the format of C(sha256sum), so that
        C(sha256sum -c <probe>-<flow_id>.tar.gz.sha256) run in that directory checks the bundle.
    type: bool
    default: true
seealso:
  - module: stamus.scs.alert_pcap
"""

EXAMPLES = r"""
- name: Bundle the evidence of a flow
  stamus.scs.evidence_bundle:
    manifest: /srv/evidence/probe-01/2077942411095108.json
    bundle: /srv/handoff/
  register: bundled

- name: Show its sha256
  ansible.builtin.debug:
    msg: "{{ bundled.bundle }} sha256={{ bundled.sha256 }}"
"""

RETURN = r"""
bundle:
  description: Where the bundle is (or would be, in check mode).
  returned: always
  type: str
  sample: /srv/handoff/probe-01-2077942411095108.tar.gz
sha256:
  description: SHA-256 of the bundle's bytes.
  returned: success
  type: str
  sample: 5d41402abc4b2a76b9719d911017c592a3f0a4b2e9c1d6f2b4e0c9a8d7f6e5b4
size:
  description: Size of the bundle in bytes.
  returned: success
  type: int
  sample: 48213
checksum_file:
  description: The C(sha256sum) line's file, when O(checksum_file=true).
  returned: success
  type: str
  sample: /srv/handoff/probe-01-2077942411095108.tar.gz.sha256
members:
  description: The files in the bundle, in order, each with its name in the archive, size and sha256.
  returned: success
  type: list
  elements: dict
  sample:
    - {name: probe-01/2077942411095108.json, size: 3071, sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae}
    - {name: probe-01/2077942411095108.pcap, size: 4862, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
probe:
  description: The probe the manifest is about.
  returned: success
  type: str
  sample: probe-01
flow_id:
  description: The flow the manifest is about.
  returned: success
  type: int
  sample: 2077942411095108
alerts:
  description: How many alerts the manifest lists.
  returned: success
  type: int
  sample: 2
signatures:
  description:
    - The distinct signature texts of those alerts, in the manifest's order (at most 50, control characters escaped).
    - They come from network traffic. Treat them as data, never as a template.
  returned: success
  type: list
  elements: str
  sample: ["ET MALWARE Win32/Emotet CnC Activity (POST) M5"]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stamus.scs.plugins.module_utils._argspecs import FILE_MODE_SPEC, merged
from ansible_collections.stamus.scs.plugins.module_utils._bundle import (
    Evidence,
    bundle_digest,
    bundle_name,
    checksum_line,
    write_bundle,
)
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsError
from ansible_collections.stamus.scs.plugins.module_utils._files import atomic_write_chunks, file_mode, has_sha256, refuse_symlink


def bundle_path(bundle, evidence, check_mode):
    refuse_symlink(bundle, "bundle")
    if os.path.isdir(bundle) or bundle.endswith(os.sep):
        bundle = os.path.join(bundle, bundle_name(evidence.probe, evidence.flow_id))
        refuse_symlink(bundle, "bundle")
    if not check_mode and not os.path.isdir(os.path.dirname(os.path.abspath(bundle))):
        raise ScsConfigError("The directory of bundle %s does not exist: create it first." % bundle)
    if os.path.realpath(bundle) in {os.path.realpath(listed.path) for listed in evidence.files}:
        raise ScsConfigError("bundle %s is one of the files it bundles: write it elsewhere." % bundle)
    return bundle


def checksum_current(path, sha256, bundle):
    """Whether the checksum file ``path`` already holds the line of ``bundle`` with ``sha256``."""
    line = checksum_line(sha256, bundle).encode("ascii")
    try:
        with open(path, "rb") as handle:
            return handle.read(len(line) + 1) == line
    except OSError:
        return False


def main():
    module = AnsibleModule(
        argument_spec=merged(
            FILE_MODE_SPEC,
            manifest={"type": "path", "required": True},
            bundle={"type": "path", "required": True},
            checksum_file={"type": "bool", "default": True},
        ),
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False, "bundle": params["bundle"]}
    try:
        mode = file_mode(params["mode"])
        evidence = Evidence(params["manifest"])
        path = result["bundle"] = bundle_path(params["bundle"], evidence, module.check_mode)
        checksum = path + ".sha256"
        if module.check_mode:
            sha256, size, members = bundle_digest(evidence)
            changed = not has_sha256(path, sha256)
        else:
            changed, sha256, size, members = write_bundle(evidence, path, mode)
        if params["checksum_file"] and not checksum_current(checksum, sha256, path):
            changed = True
            if not module.check_mode:
                atomic_write_chunks(checksum, [checksum_line(sha256, path).encode("ascii")], mode=mode)
    except ScsError as err:
        module.fail_json(msg=str(err), error_type=type(err).__name__, **result)
    except OSError as err:
        module.fail_json(msg="Cannot write %s: %s. Free space or fix the permissions of its directory; nothing partial "
                         "was kept." % (result["bundle"], err.strerror or err), **result)
    result.update(changed=changed, sha256=sha256, size=size, members=members, probe=evidence.probe,
                  flow_id=evidence.flow_id, alerts=evidence.alerts, signatures=evidence.signatures)
    if params["checksum_file"]:
        result["checksum_file"] = checksum
    for written in (path, checksum) if params["checksum_file"] else (path,):
        if os.path.exists(written):
            result["changed"] = module.set_mode_if_different(written, mode, result["changed"])
    result["msg"] = "%s %s (sha256 %s, %d bytes, %d files)." % (
        "Would write" if module.check_mode and changed else "Wrote" if changed else "Unchanged:", path, sha256, size,
        len(members))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
