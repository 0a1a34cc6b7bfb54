"""The documents that describe the API and permissions cover everything the code relies on."""

import json
import os
import re

from ansible_collections.stamus.scs.plugins.module_utils._probe_api import API_DEFAULTS, ASSUMED_KEYS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(path):
    with open(os.path.join(REPO, path)) as handle:
        return handle.read()


def test_api_assumptions_lists_every_name_with_its_default_and_confidence():
    rows = {key: (default, confidence) for key, default, confidence in
            re.findall(r"^\| `(\w+)` \| `([^`]+)` \| (\w+) \|", read("docs/api-assumptions.md"), re.M)}
    assert set(rows) == set(API_DEFAULTS)
    for key, (default, confidence) in rows.items():
        expected = API_DEFAULTS[key]
        assert default == (expected if isinstance(expected, str) else json.dumps(expected)), key
        assert (confidence == "assumed") == (key in ASSUMED_KEYS), key
