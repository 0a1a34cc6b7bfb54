# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Selecting probes or templates by name, in the info modules and the probes inventory plugin.
    DOCUMENTATION = r"""
options:
  names:
    description:
      - Only these names. Unknown names are simply absent from the result.
    type: list
    elements: str
  pattern:
    description:
      - Only names matching this shell-style pattern, for example V(probe-dmz-*). Combined with O(names) if both are set.
    type: str
"""
