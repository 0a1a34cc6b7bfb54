#!/usr/bin/env bash
# Make DIR a venv of PYTHON with REQUIREMENTS (and the files it includes with -r) installed from PyPI:
#   tools/venv.sh DIR PYTHON REQUIREMENTS
# The venv is rebuilt when the interpreter (real path and version, kept in DIR/.installed) or a requirements file
# changed since it was built. A Python older than 3.11 is refused.
set -euo pipefail
dir=$1 python=$2 requirements=$3

check='import sys; sys.exit(sys.version_info < (3, 11))'
"$python" -c "$check" 2>/dev/null || {
    echo "$python is not Python 3.11 or newer ($("$python" -V 2>&1 | head -1)): run make PYTHON=python3.11" >&2
    exit 1
}
id=$("$python" -c 'import os, sys; print(os.path.realpath(sys.executable), sys.version.split()[0])')
stamp=$dir/.installed
mapfile -t included < <(sed -n 's/^-r //p' "$requirements" | sed "s|^|$(dirname "$requirements")/|")
if [[ -f $stamp && $(cat "$stamp") == "$id" ]]; then
    changed=$(find "$requirements" "${included[@]}" -newer "$stamp")
    [[ -z $changed ]] && exit 0
    echo "$dir: rebuilding, changed since it was built: $changed" >&2
elif [[ -e $dir ]]; then
    echo "$dir: rebuilding for $id (built for: $(cat "$stamp" 2>/dev/null || echo unknown))" >&2
fi
rm -rf "$dir"
"$python" -m venv "$dir"
"$dir/bin/python" -m pip install --quiet --upgrade pip
"$dir/bin/python" -m pip install --quiet -r "$requirements"
echo "$id" >"$stamp"
