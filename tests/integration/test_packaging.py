"""The collection builds, installs from its tarball, its docs render from the installed copy, and ansible-builder
finds its requirements there."""

import os
import subprocess
import tarfile

import yaml

from runner import BIN, REPO, ansible_env


def test_build_install_and_ansible_doc(tmp_path):
    dist, installed = tmp_path / "dist", tmp_path / "collections"
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(dist), REPO],
                   check=True, capture_output=True, text=True)
    [tarball] = list(dist.iterdir())
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "plugins/modules/alert_info.py" in names and "meta/runtime.yml" in names
    assert not [name for name in names if name.startswith((".build", ".venv", "tests/emulator", "tests/output"))]

    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "-p", str(installed), str(tarball)],
                   check=True, capture_output=True, text=True, env=ansible_env({}))
    env = ansible_env({"ANSIBLE_COLLECTIONS_PATH": str(installed)})
    doc = subprocess.run([os.path.join(BIN, "ansible-doc"), "stamus.scs.alert_info"], check=True, capture_output=True,
                         text=True, env=env)
    assert str(installed) in doc.stdout, doc.stderr
    doc = doc.stdout
    for text in ("scs_token", "SCS_TOKEN", "signature_id", "page_size", "query_result", "group/stamus.scs.scs"):
        assert text in doc

    # What an execution environment build reads from the installed collection (meta/execution-environment.yml).
    introspect = subprocess.run([os.path.join(BIN, "ansible-builder"), "introspect", str(installed)], check=True,
                                capture_output=True, text=True)
    found = yaml.safe_load(introspect.stdout)
    with open(os.path.join(REPO, "requirements.txt")) as handle:
        wanted = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    assert wanted and sorted(found["python"]) == sorted("%s  # from collection stamus.scs" % line for line in wanted)
    assert found["system"] == []
