"""Each shared argument spec (module_utils/_argspecs.py) and the doc fragment of the same name say the same."""

import importlib

import pytest
import yaml

from ansible_collections.stamus.scs.plugins.module_utils._alert_api import EVENT_KIND_FLAGS
from ansible_collections.stamus.scs.plugins.module_utils._argspecs import (
    ALERT_QUERY_SPEC,
    API_OVERRIDE_KEYS,
    DOWNLOAD_SPEC,
    SPECS_BY_FRAGMENT,
    merged,
)
from ansible_collections.stamus.scs.plugins.module_utils._client import DEFAULT_DOWNLOAD_TIMEOUT
from ansible_collections.stamus.scs.plugins.module_utils._probe_api import API_DEFAULTS, OBJECT_KEYS

FRAGMENTS_WITH_OPTIONS = ("alert_query", "apply_wait", "connection", "download", "file_mode", "name_filter", "pcap_step",
                          "probe_api")
# What an option's documentation and its spec entry must agree on (doc key -> spec key).
COMPARED = {"type": "type", "elements": "elements", "default": "default", "choices": "choices", "aliases": "aliases",
            "required": "required", "suboptions": "options"}


def documented_options(fragment):
    module = importlib.import_module("ansible_collections.stamus.scs.plugins.doc_fragments.%s" % fragment)
    return yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION).get("options") or {}


def described(option, keys):
    """The compared facts of one option (documented or specified), with Ansible's defaults made explicit."""
    facts = {name: option.get(key) for name, key in keys.items()}
    facts["type"] = facts["type"] or "str"
    facts["required"] = bool(facts["required"])
    facts["aliases"] = sorted(facts["aliases"] or [])
    return facts


def compare(doc_options, spec, where):
    assert sorted(doc_options) == sorted(spec), "%s: documented options differ from the argument spec" % where
    for name, doc in doc_options.items():
        documented = described(doc, {key: key for key in COMPARED})
        specified = described(spec[name], COMPARED)
        doc_sub, spec_sub = documented.pop("suboptions"), specified.pop("suboptions")
        assert documented == specified, "%s.%s" % (where, name)
        assert (doc_sub is None) == (spec_sub is None), "%s.%s: suboptions" % (where, name)
        if doc_sub is not None:
            compare(doc_sub, spec_sub, "%s.%s" % (where, name))


def test_every_fragment_with_options_has_its_spec():
    assert sorted(SPECS_BY_FRAGMENT) == sorted(FRAGMENTS_WITH_OPTIONS)


@pytest.mark.parametrize("fragment", FRAGMENTS_WITH_OPTIONS)
def test_fragment_and_spec_agree(fragment):
    compare(documented_options(fragment), SPECS_BY_FRAGMENT[fragment], fragment)


def test_specs_follow_the_code_they_feed():
    assert set(API_OVERRIDE_KEYS) == set(API_DEFAULTS) - {"overridden"}
    options = SPECS_BY_FRAGMENT["probe_api"]["api_overrides"]["options"]
    assert {key for key, option in options.items() if option["type"] == "dict"} == OBJECT_KEYS
    assert ALERT_QUERY_SPEC["event_kinds"]["choices"] == list(EVENT_KIND_FLAGS)
    assert DOWNLOAD_SPEC["download_timeout"]["default"] == DEFAULT_DOWNLOAD_TIMEOUT


def test_a_module_spec_is_a_copy_and_refuses_an_option_given_twice():
    spec = merged(DOWNLOAD_SPEC, own={"type": "str"})
    spec["max_size"]["default"] = "1G"
    assert DOWNLOAD_SPEC["max_size"]["default"] == "4G" and sorted(spec) == ["download_timeout", "max_size", "own"]
    with pytest.raises(ValueError, match="option max_size is defined twice"):
        merged(DOWNLOAD_SPEC, max_size={"type": "int"})
