# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Permissions of the pcaps and manifests the modules write (mirrored by FILE_MODE_SPEC in module_utils/_argspecs.py).
    DOCUMENTATION = r"""
options:
  mode:
    description:
      - Permissions of the pcap files (and of M(stamus.scs.alert_pcap)'s manifests, of M(stamus.scs.evidence_bundle)'s
        bundles), checked before anything is downloaded or written.
      - An octal string such as V('0640'), or a symbolic mode such as V(u=rw,g=r,o=), applied to V(0640) as for a
        new file. Quote an octal mode in YAML. An unquoted V(0640) is read as an octal number, which is accepted too.
      - The file gets these permissions from its creation, before it is renamed into place.
      - M(stamus.scs.alert_pcap) gives the directories it creates the same bits plus search (x) wherever read is
        granted.
    type: raw
    default: '0640'
"""
