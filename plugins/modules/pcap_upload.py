#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pcap_upload
short_description: Upload an alert to SCS to start its pcap extraction
version_added: 1.0.0
description:
  - First step of the SCS pcap chain. Sends the alert's JSON, straight from memory, as the multipart C(file) field
    and returns the filename SCS assigned, which is the alert's C(_id).
  - Fails when SCS does not answer C(upload=done) or returns a filename that is not a plain alert id.
  - M(stamus.scs.alert_pcap) runs the whole chain for many alerts in one task.
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - stamus.scs.connection
attributes:
  check_mode:
    support: full
    description: In check mode nothing is uploaded; the module validates the alert and reports what it would do.
  diff_mode:
    support: none
    description: The step changes state on SCS only.
options:
  alert:
    description:
      - The alert, as returned by M(stamus.scs.alert_info) (with C(_id)), or a raw Elasticsearch hit with C(_source).
    type: dict
    required: true
  probe:
    description:
      - Name of the probe that saw the alert. Defaults to the alert's C(host) field.
    type: str
seealso:
  - module: stamus.scs.alert_info
  - module: stamus.scs.pcap_extract
"""

EXAMPLES = r"""
- name: Upload the first alert found
  stamus.scs.pcap_upload:
    alert: "{{ found.alerts[0] }}"
  register: uploaded
"""

RETURN = r"""
filename:
  description: The name SCS gave the pcap; pass it to the next steps.
  returned: always
  type: str
  sample: Xk3aQ4kBWK2kIefhuEoN
probe:
  description: The probe the alert was uploaded for.
  returned: always
  type: str
  sample: probe-01
alert_id:
  description: The alert's C(_id).
  returned: always
  type: str
  sample: Xk3aQ4kBWK2kIefhuEoN
"""

from ansible_collections.stamus.scs.plugins.module_utils._module_base import ScsModule
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsError
from ansible_collections.stamus.scs.plugins.module_utils._pcap_steps import prepare_alert, upload


def main():
    module = ScsModule(argument_spec={"alert": {"type": "dict", "required": True}, "probe": {"type": "str"}},
                       supports_check_mode=True)
    try:
        alert, probe = prepare_alert(module.params["alert"], module.params["probe"])
        result = {"changed": True, "alert_id": alert["_id"], "probe": probe, "filename": alert["_id"]}
        if module.check_mode:
            module.exit_json(msg="Would upload alert %s for probe %s." % (alert["_id"], probe), **result)
        result["filename"] = upload(module.client, alert, probe)
    except ScsError as err:
        module.fail_scs(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
