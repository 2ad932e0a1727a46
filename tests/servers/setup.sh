#!/usr/bin/env bash
# Installs what the Python test server (tests/servers/dogstatsd_server.py) needs, into a venv
# of its own under the cargo target directory: nothing is installed for the user or the
# system, and `cargo clean` removes it. Idempotent and quiet when already installed (a stamp
# holds the hash of requirements.txt; a changed file reinstalls). Prints only on errors, or
# with -v. The venv's interpreter is target/pyserver-venv/bin/python3 (run_server.sh and
# tests/pyserver_selftest.rs find it there).
#
#   bash tests/servers/setup.sh            # set up (or check) the venv
#   bash tests/servers/setup.sh --print    # then print the interpreter's path
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${LASTBUCKET_PYSERVER_VENV:-${CARGO_TARGET_DIR:-$repo/target}/pyserver-venv}"
requirements="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
python="$venv/bin/python3"
verbose=0
print=0
for arg in "$@"; do
    case "$arg" in
        -v) verbose=1 ;;
        --print) print=1 ;;
        *) echo "setup.sh: unknown argument $arg (use -v or --print)" >&2; exit 2 ;;
    esac
done

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ -x "$python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && "$python" -c 'import google.protobuf' 2>/dev/null; then
    [[ $verbose == 1 ]] && echo "setup.sh: $venv is up to date"
    [[ $print == 1 ]] && echo "$python"
    exit 0
fi

base="${PYTHON:-python3}"
if ! command -v "$base" >/dev/null; then
    echo "setup.sh: $base not found: the test server needs Python 3.11 or newer" >&2
    exit 1
fi
if ! "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup.sh: $("$base" --version 2>&1) is too old: the test server needs 3.11 or newer" >&2
    exit 1
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { "$base" -m venv "$venv" \
        && "$python" -m pip install --quiet --disable-pip-version-check -r "$requirements"; } \
        >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup.sh: could not set up $venv (on Debian, python3-venv provides the venv module)" >&2
    exit 1
fi
"$python" -c 'import google.protobuf' || { echo "setup.sh: protobuf did not install" >&2; exit 1; }
echo "$want" >"$stamp"
[[ $verbose == 1 ]] && echo "setup.sh: installed $(cat "$requirements" | grep -v '^#') into $venv"
[[ $print == 1 ]] && echo "$python"
exit 0
