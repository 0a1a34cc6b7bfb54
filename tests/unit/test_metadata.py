import os

import yaml

from ansible_collections.stamus.scs.plugins.module_utils._version import COLLECTION_VERSION

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _yaml(path):
    with open(os.path.join(REPO, path)) as handle:
        return yaml.safe_load(handle)


def test_version_constant_matches_galaxy_yml():
    assert _yaml("galaxy.yml")["version"] == COLLECTION_VERSION


def test_action_group_lists_every_module():
    modules = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, "plugins", "modules")) if name.endswith(".py"))
    assert sorted(_yaml("meta/runtime.yml")["action_groups"]["scs"]) == modules
