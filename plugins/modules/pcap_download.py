#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pcap_download
short_description: Download a retrieved pcap from SCS, verified and hashed
version_added: 1.0.0
description:
  - Last step of the SCS pcap chain. Streams the pcap to a temporary file beside O(dest), hashing it and checking that
    it is a well-formed pcap or pcapng file as it arrives (the file is never read back), then fsyncs it and renames it
    into place. A download holds at most 16 MiB of the pcap in memory, less for a smaller pcap.
  - Nothing partial is ever left at O(dest). A failed or invalid transfer leaves any previous file untouched.
  - SCS serves each extracted pcap once. To download it again, run M(stamus.scs.pcap_upload),
    M(stamus.scs.pcap_extract) and M(stamus.scs.pcap_retrieve) again.
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - stamus.scs.connection
  - stamus.scs.download
  - stamus.scs.file_mode
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: In check mode nothing is downloaded; the module reports where the file would go.
  diff_mode:
    support: none
    description: Binary files are not diffed.
options:
  filename:
    description:
      - The name SCS gave the pcap at upload (RV(stamus.scs.pcap_upload#module:filename)).
    type: str
    required: true
  dest:
    description:
      - File to write, or an existing directory to write C(<filename>.pcap) into.
      - Prefer an absolute path. A relative one is relative to the directory Ansible runs the module from, which for
        a local play is the playbook's directory, not the shell's.
    type: path
    required: true
  dest_root:
    description:
      - When set, O(dest) must resolve inside this directory.
      - If not set, the value of the E(SCS_EVIDENCE_ROOT) environment variable is used.
    type: path
  force:
    description:
      - Replace an existing file. Without it, an existing O(dest) is left alone and nothing is downloaded.
    type: bool
    default: false
  alert:
    description:
      - The alert the pcap was extracted for. When given, C(flow_present) in RV(pcap) tells whether packets of its
        5-tuple are in the file, on the outer packet or inside a tunnel (C(flow_encapsulation) says which, as
        RV(stamus.scs.alert_pcap#module:results[].flow_encapsulation) does), and a pcap with packets but none of them
        warns. It is kept; M(stamus.scs.alert_pcap)
        has O(stamus.scs.alert_pcap#module:on_flow_absent) to refuse it.
    type: dict
seealso:
  - module: stamus.scs.pcap_retrieve
  - module: stamus.scs.alert_pcap
"""

EXAMPLES = r"""
- name: Download the pcap into the case folder
  stamus.scs.pcap_download:
    filename: "{{ uploaded.filename }}"
    dest: /srv/evidence/INC-4211/
    alert: "{{ found.alerts[0] }}"
    owner: analyst
    group: soc
  register: downloaded
"""

RETURN = r"""
path:
  description: Where the pcap is.
  returned: always
  type: str
  sample: /srv/evidence/INC-4211/Xk3aQ4kBWK2kIefhuEoN.pcap
size:
  description: Size in bytes.
  returned: when downloaded or already present
  type: int
  sample: 4862
sha256:
  description: SHA-256 of the file.
  returned: when downloaded or already present
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
pcap:
  description:
    - What the file holds. C(flow_packets), C(flow_present) and C(flow_encapsulation) are about O(alert)'s flow,
      V(null) without O(alert).
    - C(bytes) is the packet data in the file, the sum of its packets' captured lengths without the file and per-packet
      headers; the file's own size, which RV(sha256) covers, is RV(size). Custody manifests record both, as
      C(pcap.bytes) and C(pcap.size).
  returned: when downloaded
  type: dict
  sample:
    format: pcap
    linktype: 1
    linktype_name: ETHERNET
    packets: 14
    bytes: 4622
    first_packet_time: "2026-05-02T10:00:00.900000Z"
    last_packet_time: "2026-05-02T10:00:03.120000Z"
    header_only: false
    flow_packets: 14
    flow_present: true
    flow_encapsulation: [vxlan]
"""

import os

from ansible.module_utils.basic import env_fallback

from ansible_collections.stamus.scs.plugins.module_utils._argspecs import DOWNLOAD_SPEC, FILE_MODE_SPEC, merged
from ansible_collections.stamus.scs.plugins.module_utils._module_base import ScsModule
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsError
from ansible_collections.stamus.scs.plugins.module_utils._evidence import five_tuple_of
from ansible_collections.stamus.scs.plugins.module_utils._files import (
    check_within,
    file_mode,
    refuse_symlink,
    remove_stale_parts,
    sha256_file,
)
from ansible_collections.stamus.scs.plugins.module_utils._pcap_steps import check_filename, download, download_limits
from ansible_collections.stamus.scs.plugins.module_utils._pcap_verify import PcapFormatError


def target_path(dest, filename, root):
    refuse_symlink(dest, "dest")
    path = os.path.join(dest, "%s.pcap" % filename) if os.path.isdir(dest) else dest
    refuse_symlink(path, "dest")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise ScsConfigError("The directory of dest %s does not exist: create it first or point dest at a directory." % path)
    check_within(path, root)
    return path


def main():
    module = ScsModule(
        argument_spec=merged(
            DOWNLOAD_SPEC,
            FILE_MODE_SPEC,
            filename={"type": "str", "required": True},
            dest={"type": "path", "required": True},
            dest_root={"type": "path", "fallback": (env_fallback, ["SCS_EVIDENCE_ROOT"])},
            force={"type": "bool", "default": False},
            alert={"type": "dict"},
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    params = module.params
    try:
        filename = check_filename(params["filename"])
        path = target_path(params["dest"], filename, params["dest_root"])
        mode = file_mode(params["mode"])
        limits = download_limits(params)
        result = {"changed": False, "path": path}
        if not module.check_mode:
            stale = remove_stale_parts(os.path.dirname(os.path.abspath(path)), name=os.path.basename(path))
            if stale:
                module.warn("Removed %d temporary file(s) that an interrupted download of %s left: %s." % (
                    len(stale), path, ", ".join(os.path.basename(name) for name in stale)))
        if os.path.exists(path) and not params["force"]:
            result.update(size=os.path.getsize(path), sha256=sha256_file(path),
                          msg="%s exists; nothing downloaded (force=true replaces it)." % path)
        elif module.check_mode:
            result.update(changed=True, msg="Would download pcap %s to %s." % (filename, path))
        else:
            five_tuple = five_tuple_of(params["alert"]) if params["alert"] else None
            download_facts = download(module.client, filename, path, mode=mode, five_tuple=five_tuple, **limits)
            summary = download_facts["pcap"]
            result.update(changed=True, size=download_facts["size"], sha256=download_facts["sha256"], pcap=summary)
            if summary.get("header_only"):
                module.warn("The pcap of %s holds no packet (header-only): the probe's store had none of this flow." % filename)
            elif summary.get("flow_present") is False:
                module.warn("The pcap of %s holds %d packet(s), none of the alert's 5-tuple: check that it is the right "
                            "capture before relying on it." % (filename, summary["packets"]))
    except PcapFormatError as err:
        module.fail_json(msg="SCS sent a file for %s that is not a valid pcap (%s); nothing was written." % (params["filename"], err))
    except ScsError as err:
        module.fail_scs(err)
    except OSError as err:
        module.fail_json(msg="Cannot write %s: %s. Free space or fix the permissions of dest; nothing partial was kept."
                         % (params["dest"], err.strerror or err))
    if os.path.exists(path):
        file_args = module.load_file_common_arguments(params, path=path)
        if file_args.get("mode") is None:
            file_args["mode"] = mode
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
