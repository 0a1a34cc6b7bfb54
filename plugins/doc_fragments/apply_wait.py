# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Waiting for the "apply changes" task that pushes pending configuration to the probes.
    DOCUMENTATION = r"""
options:
  wait:
    description:
      - Wait for the apply task to finish and report each probe's result. A probe that failed or was unreachable
        fails the task with its message.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the apply task.
    type: int
    default: 300
"""
