#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pcap_extract
short_description: Have the probe extract the pcap of an uploaded SCS alert
version_added: 1.0.0
description:
  - Second step of the SCS pcap chain. The probe reads the alert's C(capture_file) and the later files of the same
    capture thread, keeps the packets of the alert's 5-tuple and writes them to a pcap.
  - Extraction is synchronous. The call returns when the pcap is built, so raise O(timeout) for very large stores.
  - Fails when SCS does not answer C(extraction=done). A capture file rotated out of the probe's store is reported
    with RV(rotated=true), and retrying cannot help.
  - M(stamus.scs.alert_pcap) runs the whole chain for many alerts in one task.
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - stamus.scs.connection
  - stamus.scs.pcap_step
seealso:
  - module: stamus.scs.pcap_upload
  - module: stamus.scs.pcap_retrieve
"""

EXAMPLES = r"""
- name: Extract the pcap of an uploaded alert
  stamus.scs.pcap_extract:
    filename: "{{ uploaded.filename }}"
    probe: "{{ uploaded.probe }}"
  register: extracted
"""

RETURN = r"""
filename:
  description: The pcap's name on SCS.
  returned: always
  type: str
  sample: Xk3aQ4kBWK2kIefhuEoN
probe:
  description: The probe that extracted it.
  returned: always
  type: str
  sample: probe-01
response:
  description: The body SCS answered with.
  returned: success, not in check mode
  type: dict
  sample: {"extraction": "done", "filename": "Xk3aQ4kBWK2kIefhuEoN"}
rotated:
  description: Whether the failure was a capture file rotated out of the probe's store.
  returned: failure
  type: bool
  sample: true
"""

from ansible_collections.stamus.scs.plugins.module_utils._step_module import run_step_module


def main():
    run_step_module("extract")


if __name__ == "__main__":
    main()
