#!/bin/sh
# Runs the Python test server with the venv's interpreter (tests/servers/setup.sh makes it),
# replacing this shell so that a signal sent to this process reaches the server itself:
#   lastbucket check --server-cmd 'tests/servers/run_server.sh' --server-addr udp://127.0.0.1:PORT
# Arguments are passed on (e.g. --drop-on-stop).
here="$(cd "$(dirname "$0")" && pwd)"
python="${LASTBUCKET_PYSERVER_PYTHON:-${LASTBUCKET_PYSERVER_VENV:-${CARGO_TARGET_DIR:-$here/../../target}/pyserver-venv}/bin/python3}"
if [ ! -x "$python" ]; then
    echo "run_server.sh: $python not found: run tests/servers/setup.sh first" >&2
    exit 2
fi
exec "$python" "$here/dogstatsd_server.py" "$@"
