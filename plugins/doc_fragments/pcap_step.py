# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Options of the pcap step modules that act on a file SCS named at upload.
    DOCUMENTATION = r"""
options:
  filename:
    description:
      - The name SCS gave the pcap at upload (RV(stamus.scs.pcap_upload#module:filename)); it is the alert's C(_id).
      - Only letters, digits, C(_) and C(-) are accepted.
    type: str
    required: true
  probe:
    description:
      - Name of the probe that saw the alert (the alert's C(host) field).
    type: str
    required: true
attributes:
  check_mode:
    support: full
    description: In check mode nothing is called; the module reports what it would do.
  diff_mode:
    support: none
    description: The step changes state on SCS and the probe only.
"""
