#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pcap_retrieve
short_description: Copy an extracted pcap from the probe to SCS
version_added: 1.0.0
description:
  - Third step of the SCS pcap chain. SCS fetches the pcap built by M(stamus.scs.pcap_extract) from the probe, so that
    M(stamus.scs.pcap_download) can serve it.
  - Fails when SCS does not answer C(retrieve=done).
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - stamus.scs.connection
  - stamus.scs.pcap_step
seealso:
  - module: stamus.scs.pcap_extract
  - module: stamus.scs.pcap_download
"""

EXAMPLES = r"""
- name: Bring the extracted pcap to SCS
  stamus.scs.pcap_retrieve:
    filename: "{{ uploaded.filename }}"
    probe: "{{ uploaded.probe }}"
"""

RETURN = r"""
filename:
  description: The pcap's name on SCS.
  returned: always
  type: str
  sample: Xk3aQ4kBWK2kIefhuEoN
probe:
  description: The probe it came from.
  returned: always
  type: str
  sample: probe-01
response:
  description: The body SCS answered with.
  returned: success, not in check mode
  type: dict
  sample: {"retrieve": "done"}
"""

from ansible_collections.stamus.scs.plugins.module_utils._step_module import run_step_module


def main():
    run_step_module("retrieve")


if __name__ == "__main__":
    main()
