# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Limits of the modules that download pcaps (mirrored by DOWNLOAD_SPEC in module_utils/_argspecs.py).
    DOCUMENTATION = r"""
options:
  max_size:
    description:
      - Largest pcap accepted, as a size such as V(4G), V(500M) or a number of bytes.
      - A pcap whose announced size (C(Content-Length)) is larger is refused before anything is written; one that grows
        past it while it streams is stopped there. Nothing is kept in either case and the download is not retried.
    type: bytes
    default: 4G
  download_timeout:
    description:
      - Seconds the whole transfer of one pcap may take, from the request to the last byte. A slower transfer is
        stopped there, nothing is kept and it is not retried.
      - Each read of the transfer must also get data within O(timeout) seconds.
    type: float
    default: 3600
notes:
  - >-
    A pcap is downloaded byte for byte as SCS stores it: the request asks for no compression (C(Accept-Encoding:
    identity)) and a compressed answer (a C(Content-Encoding) other than C(identity), for example from a proxy) is
    refused, since its announced size would not bound what it expands to.
  - >-
    Before writing, the pcap's announced size is compared with the free space of the destination's directory; a pcap
    that cannot fit is refused with both sizes and nothing is written.
  - >-
    The pcap is hashed and checked (pcap or pcapng structure, packets, the alert's flow) as it arrives, in a few
    buffers sized from its announced size (16 MiB at most): it is never read back from the disk. On Linux its
    write-back starts while it downloads, so the final fsync is short and a large pcap does not fill the page cache.
  - >-
    The download goes to a hidden temporary file C(.<name>.<host>-<pid>.<random>.part) beside the destination, renamed
    into place once complete and verified. A run that is killed cannot remove it; the next run on the same destination
    removes such files whose writer is gone (or that are older than a day), and nothing else.
"""
