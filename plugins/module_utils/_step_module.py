# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The body shared by the step modules that act on a named pcap (pcap_extract, pcap_retrieve)."""

from __future__ import annotations

from ansible_collections.stamus.scs.plugins.module_utils import _pcap_steps as steps
from ansible_collections.stamus.scs.plugins.module_utils._argspecs import PCAP_STEP_SPEC, merged
from ansible_collections.stamus.scs.plugins.module_utils._module_base import ScsModule
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsError

STEP_CALLS = {"extract": steps.extract, "retrieve": steps.retrieve}


def run_step_module(step):
    module = ScsModule(argument_spec=merged(PCAP_STEP_SPEC), supports_check_mode=True)
    filename, probe = module.params["filename"], module.params["probe"]
    result = {"changed": True, "filename": filename, "probe": probe}
    try:
        steps.check_filename(filename)
        steps.check_probe(probe)
        if module.check_mode:
            module.exit_json(msg="Would %s pcap %s on probe %s." % (step, filename, probe), **result)
        result["response"] = STEP_CALLS[step](module.client, filename, probe)
    except steps.ScsStepError as err:
        module.fail_scs(err, rotated=err.rotated, **result)
    except ScsError as err:
        module.fail_scs(err, **result)
    module.exit_json(**result)
