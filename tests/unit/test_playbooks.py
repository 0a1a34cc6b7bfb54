"""Every play the collection ships or documents runs its modules with the Python of ansible-playbook."""

import glob
import os
import re

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INTERPRETER = "{{ ansible_playbook_python }}"


def shipped_plays():
    for path in sorted(glob.glob(os.path.join(REPO, "playbooks", "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            for play in yaml.safe_load(handle):
                yield os.path.relpath(path, REPO), play


def documented_plays():
    """The YAML blocks of the READMEs and guides that are plays (a list of mappings with ``hosts``)."""
    documents = ["README.md"] + glob.glob(os.path.join(REPO, "roles", "*", "README.md")) + glob.glob(
        os.path.join(REPO, "docs", "guides", "*.md"))
    for path in documents:
        with open(os.path.join(REPO, path), encoding="utf-8") as handle:
            blocks = re.findall(r"^```yaml\n(.*?)^```", handle.read(), re.M | re.S)
        for block in blocks:
            parsed = yaml.safe_load(block)
            if isinstance(parsed, list):
                for play in parsed:
                    if isinstance(play, dict) and "hosts" in play:
                        yield os.path.relpath(os.path.join(REPO, path), REPO), play


def test_every_play_sets_the_interpreter_of_ansible_playbook():
    plays = list(shipped_plays()) + list(documented_plays())
    assert len(plays) >= 10
    for where, play in plays:
        assert play["hosts"] == "localhost", where
        assert (play.get("vars") or {}).get("ansible_python_interpreter") == INTERPRETER, (where, play["name"])
