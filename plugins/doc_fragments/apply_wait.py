# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Waiting for the task of the apply call ("Update / Push ruleset") that pushes pending configuration to the probes.
    DOCUMENTATION = r"""
options:
  wait:
    description:
      - Wait for the apply task to reach a final state and report each probe's result, judged by its latest attempt.
      - The task fails the module when a probe's latest attempt failed or was unreachable, when it was cancelled
        (revoked) in SCS, or when it is still running or retrying at O(wait_timeout). A probe that applied with a
        warning succeeds, and its message becomes a warning.
      - After a failed attempt SCS shows the task as finished and runs it again about 3 minutes later, up to 3 retries.
        That is reported as C(retrying) and waited for, not taken as the result.
      - With V(false), the module returns once SCS has accepted the apply, with C(state=started).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the apply task, its retries included. A task that fails once is retried after about
        3 minutes, so allow 900 seconds or more to see the retries through.
    type: int
    default: 300
"""
