import os

import yaml

from ansible_collections.stamus.scs.plugins.module_utils._version import COLLECTION_VERSION

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _yaml(path):
    with open(os.path.join(REPO, path)) as handle:
        return yaml.safe_load(handle)


def test_version_constant_matches_galaxy_yml():
    assert _yaml("galaxy.yml")["version"] == COLLECTION_VERSION


def test_action_group_lists_every_module_with_the_connection_options():
    """module_defaults for group/stamus.scs.scs sets the connection options on every module of the group, and a module
    fails on options it does not take: the group holds exactly the modules that talk to SCS."""
    modules = []
    for name in sorted(os.listdir(os.path.join(REPO, "plugins", "modules"))):
        if name.endswith(".py"):
            with open(os.path.join(REPO, "plugins", "modules", name)) as handle:
                documentation = yaml.safe_load(handle.read().split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0])
            if "stamus.scs.connection" in documentation.get("extends_documentation_fragment", []):
                modules.append(name[:-3])
    assert "evidence_bundle" not in modules and "evidence_verify" not in modules and "alert_pcap" in modules
    assert sorted(_yaml("meta/runtime.yml")["action_groups"]["scs"]) == modules
