#!/usr/bin/env bash
# `make emulator`: serve the SCS emulator over TLS in the foreground. First, on stdout, the connection as shell
# lines ready to eval (the variables the modules read: SCS_URL, SCS_TOKEN, SCS_CA_PATH); everything else (the
# analyst token, the server's log) goes to stderr. Extra arguments go to `scs_emulator serve`.
#   tools/emulator.sh [--alerts 500 ...]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
PYTHONPATH=$REPO/tests/emulator "$PY" -m scs_emulator serve --tls "$@" | while IFS= read -r line; do
    case $line in
        SCS_URL=* | SCS_TOKEN=* | SCS_CA_PATH=*) printf 'export %s=%q\n' "${line%%=*}" "${line#*=}" ;;
        *) printf '%s\n' "$line" >&2 ;;
    esac
done
