# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Connection options shared by every module that talks to the SCS REST API.
    DOCUMENTATION = r"""
options:
  scs_url:
    description:
      - Base URL of the Stamus Central Server, for example V(https://scs.example.net).
      - The REST root V(/rest/) is appended by the collection; a URL that already ends in V(/rest) is accepted too.
      - If not set, the value of the E(SCS_URL) environment variable is used. One of them is required.
    type: str
  scs_token:
    description:
      - REST API token of an SCS user, sent in the C(Authorization) header as C(Token <token>).
      - Create one in the SCS web interface under the user's account settings.
      - If not set, the value of the E(SCS_TOKEN) environment variable is used. One of them is required.
      - The token is never logged, returned or shown in error messages by the collection.
      - A token with a line break, another control character or a character outside Latin-1 cannot be sent in an
        HTTP header; it is refused before anything is sent, without showing it.
      - Prefer E(SCS_TOKEN) (or a credential) to this option on the command line. When an ad-hoc task such as
        C(ansible localhost -m stamus.scs.alert_info -a scs_token=...) fails, Ansible shows the task's arguments,
        the token included, in its own error context.
    type: str
  validate_certs:
    description:
      - Whether to verify the TLS certificate of the SCS server.
      - Set O(ca_path) instead of disabling this for a server with a private CA.
      - If not set, the value of the E(SCS_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  ca_path:
    description:
      - Path to a PEM file of CA certificates used to verify the SCS server certificate, or to a directory of
        certificates prepared with C(openssl rehash).
      - If not set, the value of the E(SCS_CA_PATH) environment variable is used, then the system trust store.
      - Checked before anything is sent when O(validate_certs) is true. A path that does not exist, that cannot be read
        or that holds no PEM certificate (a DER file, for example) fails with a message naming the file; such errors
        are never retried.
    type: path
  timeout:
    description:
      - Deadline, in seconds, of each attempt of an API call, the whole answer included. Connecting and every read
        wait at most this long, and an answer still arriving once it has passed (a server sending it byte by byte) is
        abandoned, then retried like a timeout where O(retries) allows.
      - A call that is retried can take up to (O(retries) + 1) times this, plus the waits between attempts.
      - Pcap downloads have their own deadline for the whole transfer
        (O(stamus.scs.pcap_download#module:download_timeout) of M(stamus.scs.pcap_download) and
        M(stamus.scs.alert_pcap)); each of their reads still waits at most O(timeout).
      - Pcap extraction is synchronous on SCS and can take as long as the server's worker timeout (120 seconds on Scirius).
      - A finite number greater than 0 and at most 604800 (a week).
    type: float
    default: 120
  retries:
    description:
      - How many times a request that is safe to repeat is retried after a connection error or an HTTP 429, 502, 503 or 504 answer.
      - Retries wait with exponential backoff and jitter, honouring C(Retry-After).
      - Requests that change state (POST, PATCH) are never retried, nor are refused options and answers over a limit.
      - Between 0 and 20.
    type: int
    default: 3
  tenant:
    description:
      - Tenant id for multi-tenant SCS installations, sent as the C(tenant) query parameter.
    type: int
notes:
  - >-
    All modules of this collection belong to the action group C(stamus.scs.scs), so the connection options can be set
    once for all of them with C(module_defaults) and the key C(group/stamus.scs.scs).
  - >-
    JSON answers are read as they arrive and decoded (gzip or deflate) incrementally, at most 64 MiB per answer once
    decoded: a larger one, such as a compression bomb, fails with a message naming the call, is not retried and never
    fills memory. A page of 1,000 alerts is far smaller. Of an error answer only the first 64 KiB are read.
  - >-
    Text quoted from SCS in messages and warnings (error details, step errors, probe messages, HTML pages) has its
    control characters replaced (line breaks by spaces, ESC, BEL and the like by visible escapes such as C(\x1b)), so
    that a server cannot drive the terminal. Data returned by the modules (alerts, probes) is left as SCS sent it.
"""

    # Plugin flavour (community.hashi_vault's pattern): list stamus.scs.connection.plugins after stamus.scs.connection
    # in a plugin's extends_documentation_fragment to add the environment, ansible.cfg and variable sources that
    # modules get from their argument spec. Secrets get no ansible.cfg entry.
    PLUGINS = r"""
options:
  scs_url:
    env:
      - name: SCS_URL
    ini:
      - section: stamus_scs
        key: scs_url
    vars:
      - name: ansible_scs_url
  scs_token:
    env:
      - name: SCS_TOKEN
    vars:
      - name: ansible_scs_token
  validate_certs:
    env:
      - name: SCS_VALIDATE_CERTS
    ini:
      - section: stamus_scs
        key: validate_certs
    vars:
      - name: ansible_scs_validate_certs
  ca_path:
    env:
      - name: SCS_CA_PATH
    ini:
      - section: stamus_scs
        key: ca_path
    vars:
      - name: ansible_scs_ca_path
  timeout:
    ini:
      - section: stamus_scs
        key: timeout
    vars:
      - name: ansible_scs_timeout
  retries:
    ini:
      - section: stamus_scs
        key: retries
    vars:
      - name: ansible_scs_retries
  tenant:
    ini:
      - section: stamus_scs
        key: tenant
    vars:
      - name: ansible_scs_tenant
"""
