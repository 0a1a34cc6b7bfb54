# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every argument spec that more than one module shares, each named after the doc fragment that documents it.

tests/unit/test_argspecs.py checks that each spec here and its fragment name the same options with the same type,
elements, default, choices, aliases and suboptions. Options of a single module stay in that module.
"""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError

# doc fragment stamus.scs.connection
CONNECTION_SPEC = {
    # scs_url and scs_token are required, but checked by _module_base.check_connection: core's "missing required
    # arguments" would not mention their environment variables.
    "scs_url": {"type": "str", "fallback": (env_fallback, ["SCS_URL"])},
    "scs_token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["SCS_TOKEN"])},
    "validate_certs": {"type": "bool", "default": True, "fallback": (env_fallback, ["SCS_VALIDATE_CERTS"])},
    "ca_path": {"type": "path", "fallback": (env_fallback, ["SCS_CA_PATH"])},
    "timeout": {"type": "float", "default": 120},
    "retries": {"type": "int", "default": 3},
    "tenant": {"type": "int"},
}

# doc fragment stamus.scs.alert_query
ALERT_QUERY_SPEC = {
    "alert_ids": {"type": "list", "elements": "str"},
    "signature_id": {"type": "list", "elements": "int", "aliases": ["signature_ids"]},
    "severity": {"type": "list", "elements": "int"},
    "flow_id": {"type": "int"},
    "probe": {"type": "str"},
    "qfilter": {"type": "str"},
    "event_kinds": {"type": "list", "elements": "str", "choices": ["alerts", "doc", "sightings"]},
    "since": {"type": "str"},
    "from": {"type": "str"},
    "to": {"type": "str"},
    "limit": {"type": "int"},
    "page_size": {"type": "int", "default": 100},
}

# doc fragment stamus.scs.download
DOWNLOAD_SPEC = {
    "max_size": {"type": "bytes", "default": "4G"},
    "download_timeout": {"type": "float", "default": 3600.0},
}

# doc fragment stamus.scs.file_mode (pcap_download also takes ansible.builtin.files' other options)
FILE_MODE_SPEC = {
    "mode": {"type": "raw", "default": "0640"},
}

# doc fragment stamus.scs.pcap_step
PCAP_STEP_SPEC = {
    "filename": {"type": "str", "required": True},
    "probe": {"type": "str", "required": True},
}

# doc fragment stamus.scs.probe_api. No defaults: what the user left unset is told apart from what was set (the
# defaults are _probe_api.API_DEFAULTS).
API_OVERRIDE_KEYS = ("probe_path", "legacy_probe_path", "probe_key", "apply_path", "push_action", "apply_body",
                     "pcap_label", "pcap_field", "template_path", "template_key", "probe_template_field",
                     "pending_field", "comment_field", "task_path", "write_permission", "push_permission")
PROBE_API_SPEC = {
    "api_overrides": {
        "type": "dict",
        # no_log False: probe_key and template_key are field names, not secrets
        "options": {key: {"type": "dict" if key == "apply_body" else "str", "no_log": False} for key in API_OVERRIDE_KEYS},
        "mutually_exclusive": [("apply_path", "push_action")],
    },
}

# doc fragment stamus.scs.apply_wait
APPLY_WAIT_SPEC = {
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 300},
}

# doc fragment stamus.scs.name_filter
NAME_FILTER_SPEC = {
    "names": {"type": "list", "elements": "str"},
    "pattern": {"type": "str"},
}

# Every shared spec by the name of its doc fragment.
SPECS_BY_FRAGMENT = {
    "connection": CONNECTION_SPEC,
    "alert_query": ALERT_QUERY_SPEC,
    "download": DOWNLOAD_SPEC,
    "file_mode": FILE_MODE_SPEC,
    "pcap_step": PCAP_STEP_SPEC,
    "probe_api": PROBE_API_SPEC,
    "apply_wait": APPLY_WAIT_SPEC,
    "name_filter": NAME_FILTER_SPEC,
}


def merged(*specs, **options):
    """One module's argument spec: the shared ``specs`` and its own ``options`` (a copy: specs are never shared)."""
    result = {}
    for spec in specs + (options,):
        for name, option in spec.items():
            if name in result:
                raise ValueError("option %s is defined twice" % name)
            result[name] = dict(option)
    return result


def validated_option(spec, name, value):
    """``value`` of the option ``name`` of ``spec`` checked as a module's argument spec would check it, for a plugin
    whose options Ansible does not check beyond their type (such as the inventory plugin's api_overrides)."""
    result = ArgumentSpecValidator({name: spec[name]}).validate({name: value})
    if result.error_messages:
        raise ScsConfigError("Invalid %s: %s" % (name, "; ".join(result.error_messages)))
    return result.validated_parameters[name]
