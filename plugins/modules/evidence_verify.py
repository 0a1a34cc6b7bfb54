#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: evidence_verify
short_description: Check an evidence tree of alert_pcap for tampering
version_added: 1.1.0
description:
  - Walks an evidence directory written by M(stamus.scs.alert_pcap), C(<path>/<probe>/<flow_id>.json), and for each
    custody manifest checks every file it lists against its sha256 (the pcap, and the flow's events, extracted files
    and annotated copy when listed), its detached signature C(<flow_id>.json.sig), and that no other file is beside
    it.
  - Every member of a manifest that has a C(file) and a C(sha256) is checked, so evidence that later versions add is
    checked without a change here. Only the names the evidence layout allows are opened (C(<flow_id>.pcap),
    C(<flow_id>.events.json), C(<flow_id>.files/<sha256>), C(<flow_id>.annotated.pcapng), beside the manifest); any
    other name a manifest gives is reported as C(hostile_path) and not opened.
  - Symbolic links are never followed; probe directories whose names are no probe names are reported as stray.
  - Files are hashed as they are read (a pcap of several GiB takes constant memory). A manifest may take at most
    1 GiB, each of its members but the alerts 1 MiB, a signature 16 KiB.
  - Reads only. Run it when no M(stamus.scs.alert_pcap) writes to O(path), or files being written are reported.
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - stamus.scs.read_only
options:
  path:
    description: The evidence directory, the O(stamus.scs.alert_pcap#module:dest) of the runs to check.
    type: path
    required: true
  public_key:
    description:
      - The Ed25519 public key in PEM that checks raw Ed25519 signatures (made with an Ed25519 PEM
        O(stamus.scs.alert_pcap#module:sign_key)); C(openssl pkey -in key.pem -pubout -out key.pub.pem) makes it.
    type: path
  allowed_signers:
    description:
      - An OpenSSH allowed_signers file (C(<identity> <public key>) per line, see C(ssh-keygen(1))) that checks SSH
        signatures (made with an OpenSSH O(stamus.scs.alert_pcap#module:sign_key)), with C(ssh-keygen -Y verify) in
        the namespace C(stamus.scs-evidence). Needs O(signer_identity) and C(ssh-keygen) on the E(PATH); where
        coreutils' C(timeout) is installed, a check that takes more than 300 seconds is stopped with an error.
    type: path
  signer_identity:
    description: The identity of O(allowed_signers) the SSH signatures must be made by.
    type: str
  require_signature:
    description:
      - Report every manifest without a signature, or whose signature cannot be checked with O(public_key) or
        O(allowed_signers), as a problem.
      - Without it, a manifest without signature is a problem only when it records that it was signed
        (C(signed_by)), that is when its signature was removed; a signature is checked when a key for it is given.
    type: bool
    default: false
  fail_on:
    description:
      - V(any) fails the task when any flow or stray file has a problem, after checking the whole tree; V(none) only
        reports.
    type: str
    choices: [any, none]
    default: any
  results:
    description: Which flows RV(flows) lists; V(all) or V(problems). RV(summary) counts every flow.
    type: str
    choices: [all, problems]
    default: all
notes:
  - The signature is checked over the manifest's exact bytes; the manifest's C(signed_by) (the signing key's
    fingerprint) is only reported, never used to choose the key.
seealso:
  - module: stamus.scs.alert_pcap
"""

EXAMPLES = r"""
- name: Check an evidence tree signed with an Ed25519 key, failing on any tampering
  stamus.scs.evidence_verify:
    path: /srv/evidence/INC-4211
    public_key: /etc/scs/evidence.pub.pem
    require_signature: true

- name: Check SSH signatures, only reporting
  stamus.scs.evidence_verify:
    path: /srv/evidence/INC-4211
    allowed_signers: /etc/scs/allowed_signers
    signer_identity: evidence@soc.example.net
    fail_on: none
  register: verified
"""

RETURN = r"""
flows:
  description:
    - One entry per manifest (as far as O(results) asks, at most 10,000), by probe and flow id.
    - Text from the tree (file names, the fingerprint a manifest records) is printable and cut to 200 characters.
  returned: always
  type: list
  elements: dict
  sample:
    - probe: probe-01
      flow_id: 2077942411095108
      manifest: /srv/evidence/INC-4211/probe-01/2077942411095108.json
      status: tampered
      signature: good
      signed_by: SHA256:xJdslmmGKSHt6f3sa2dwF2kz35oJ+6Mfx+5jEsEF8k8
      files_checked: 2
      problems:
        - problem: changed
          file: 2077942411095108.pcap
          message: 2077942411095108.pcap does not match its sha256 in the manifest
          expected: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
          actual: 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752
      problems_unlisted: 0
  contains:
    status:
      description: V(ok), or V(tampered) when the flow has any problem.
      type: str
    signature:
      description:
        - V(good), V(bad) (does not match, or unreadable), V(missing) (expected but absent), V(none) (unsigned, and
          not required), or V(unchecked) (no key for it was given).
      type: str
    problems:
      description:
        - What is wrong, at most 50 (RV(flows[].problems_unlisted) counts the others). C(problem) is one of
          V(missing), V(changed) (with C(expected) and C(actual) sha256 or size), V(unreadable) (a symbolic link, not
          a regular file), V(hostile_path), V(malformed), V(unsigned), V(bad_signature), V(unlisted) (a file beside
          the manifest that it does not list).
      type: list
      elements: dict
    problems_unlisted:
      description: How many problems of the flow RV(flows[].problems) leaves out, past 50.
      type: int
flows_unlisted:
  description: Flows left out of RV(flows) past 10,000.
  returned: always
  type: int
  sample: 0
stray:
  description:
    - Files and directories of the tree that belong to no manifest (a pcap or signature without its manifest, a
      symbolic link), at most 1,000; each is a problem.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /srv/evidence/INC-4211/probe-01/123.pcap
      message: no manifest lists it
summary:
  description: Counts over the whole tree; the signature states count flows.
  returned: always
  type: dict
  sample: {flows: 120, ok: 119, tampered: 1, files_checked: 240, bytes_checked: 73400320, stray: 0, good: 120,
           bad: 0, missing: 0, none: 0, unchecked: 0}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsError
from ansible_collections.stamus.scs.plugins.module_utils._signing import SshKeygen, load_public_key, read_key_file
from ansible_collections.stamus.scs.plugins.module_utils._verify_tree import Keys, TreeCheck


def keys_of(module):
    params = module.params
    public_key = load_public_key(params["public_key"]) if params["public_key"] else None
    allowed, ssh_keygen = params["allowed_signers"], None
    if allowed:
        read_key_file(allowed, what="allowed_signers")  # a clear error when it is missing or unreadable
        ssh_keygen = SshKeygen(module)
        if ssh_keygen.path is None:
            raise ScsError("allowed_signers is checked with ssh-keygen -Y verify, which is not on the PATH: install "
                           "OpenSSH's client (package openssh-client or openssh-clients).")
    return Keys(public_key, allowed, params["signer_identity"], ssh_keygen)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "public_key": {"type": "path"},
            "allowed_signers": {"type": "path"},
            "signer_identity": {"type": "str"},
            "require_signature": {"type": "bool", "default": False},
            "fail_on": {"type": "str", "choices": ["any", "none"], "default": "any"},
            "results": {"type": "str", "choices": ["all", "problems"], "default": "all"},
        },
        required_together=[("allowed_signers", "signer_identity")],
        supports_check_mode=True,
    )
    params = module.params
    if not os.path.isdir(params["path"]) or os.path.islink(params["path"]):
        module.fail_json(msg="path %s is not a directory (a symbolic link is refused): give the dest of alert_pcap."
                         % params["path"])
    try:
        result = TreeCheck(params["path"], keys_of(module), params["require_signature"], params["results"]).run()
    except ScsError as err:
        module.fail_json(msg=str(err))
    except OSError as err:
        module.fail_json(msg="Cannot read %s: %s." % (err.filename or params["path"], err.strerror or err))
    summary = result["summary"]
    if params["fail_on"] == "any" and (summary["tampered"] or summary["stray"]):
        module.fail_json(msg="%d of %d flow(s) of %s have problems and %d file(s) belong to no manifest: see flows and "
                             "stray." % (summary["tampered"], summary["flows"], params["path"], summary["stray"]),
                         **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
