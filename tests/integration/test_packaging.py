"""The collection builds, installs from its tarball, its docs render from the installed copy, and ansible-builder
finds its requirements there."""

import os
import shutil
import subprocess
import tarfile

import yaml

from runner import BIN, REPO, ansible_env


# What a checkout holds after `make test`, `make demo` and an editor: none of it belongs in the tarball.
GENERATED = (".pytest_cache/v/cache/lastfailed", ".build/reliability.md", ".build/dist/stamus-scs-1.0.0.tar.gz",
             ".venv/bin/python", "tests/output/.tmp/sanity.log", "plugins/module_utils/__pycache__/_client.cpython-311.pyc",
             "tests/unit/__pycache__/conftest.cpython-311-pytest-9.2.0.pyc", "changelogs/.plugin-cache.yaml",
             "demo-output/evidence/report.md", ".ansible/collections/readme")


def checkout_with_generated_files(where):
    """A copy of the checkout's files (tracked or not, minus ignored ones) plus the files a working copy gathers."""
    listed = subprocess.run(["git", "-C", REPO, "ls-files", "-co", "--exclude-standard", "-z"], check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in [name for name in listed if name] + list(GENERATED):
        target = where / name
        target.parent.mkdir(parents=True, exist_ok=True)
        source = os.path.join(REPO, name)
        if os.path.isfile(source):
            shutil.copyfile(source, target)
        else:
            target.write_text("generated\n")
    return where


def test_tarball_holds_what_runs_and_no_tests_or_generated_files(tmp_path):
    checkout = checkout_with_generated_files(tmp_path / "checkout")
    dist = tmp_path / "dist"
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(dist), str(checkout)],
                   check=True, capture_output=True, text=True)
    [tarball] = list(dist.iterdir())
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    for wanted in ("plugins/modules/alert_info.py", "meta/runtime.yml", "roles", "playbooks", "docs/reliability.md",
                   "extensions/eda/plugins/event_source/alerts.py", "MANIFEST.json", "FILES.json"):
        assert wanted in names
    parts = {part for name in names for part in name.split("/")}
    assert not parts & {".pytest_cache", "__pycache__", ".build", ".venv", "tests", "output", "demo-output",
                        ".plugin-cache.yaml", ".ansible", "tools", "requirements"}, sorted(names)
    assert not [name for name in names if name.endswith((".pyc", ".tar.gz"))]


def test_build_install_and_ansible_doc(tmp_path):
    dist, installed = tmp_path / "dist", tmp_path / "collections"
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(dist), REPO],
                   check=True, capture_output=True, text=True)
    [tarball] = list(dist.iterdir())

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
