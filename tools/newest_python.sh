#!/usr/bin/env bash
# Print the newest working Python 3.12 or later of this machine (on PATH or under ~/.pyenv/versions), or nothing:
# the interpreter of the newest ansible-core `make test` also tests (core 2.20 and later need Python 3.12+).
# pyenv shims of versions that are not selected fail when run, so each candidate is run before it is chosen.
set -uo pipefail
candidates=(python3.14 python3.13 python3.12)
for version in "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3; do
    [[ -x $version ]] && candidates+=("$version")
done
best='' best_version=
for candidate in "${candidates[@]}"; do
    found=$("$candidate" -c 'import sys; v = sys.version_info; print(sys.executable, "%d.%d.%d" % v[:3]) if v >= (3, 12) else None' 2>/dev/null) || continue
    [[ -n $found ]] || continue
    if [[ -z $best ]] || [[ $(printf '%s\n%s\n' "$best_version" "${found#* }" | sort -V | tail -1) != "$best_version" ]]; then
        best=${found% *} best_version=${found#* }
    fi
done
[[ -n $best ]] && echo "$best"
exit 0
