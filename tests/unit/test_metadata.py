import os

import yaml

from ansible_collections.stamus.scs.plugins.module_utils._version import COLLECTION_VERSION

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _yaml(path):
    with open(os.path.join(REPO, path)) as handle:
        return yaml.safe_load(handle)


def test_version_constant_matches_galaxy_yml():
    assert _yaml("galaxy.yml")["version"] == COLLECTION_VERSION


def test_action_group_lists_every_module_that_connects_to_scs():
    """module_defaults for the group give every module in it the connection options: a module that reads only local
    files (evidence_verify) would refuse them, so the group lists exactly the modules that take them."""
    directory = os.path.join(REPO, "plugins", "modules")
    modules = sorted(name[:-3] for name in os.listdir(directory) if name.endswith(".py"))
    connecting = [name for name in modules if "- stamus.scs.connection\n" in _text(os.path.join(directory, name + ".py"))]
    assert "alert_pcap" in connecting and "evidence_verify" in modules and "evidence_verify" not in connecting
    assert sorted(_yaml("meta/runtime.yml")["action_groups"]["scs"]) == connecting


def _text(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()
