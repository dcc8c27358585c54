#!/usr/bin/env bash
# Make sure a Python 3.11+ with venv exists, then create the virtual environment $1.
# On Debian as root, missing pieces are installed with apt; elsewhere we say what to install.
set -euo pipefail
venv=${1:-.venv}

python_ok() {
    command -v "$1" >/dev/null 2>&1 &&
        "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

if [ -x "$venv/bin/python" ]; then
    exit 0
fi

python=${PYTHON:-python3}
if ! python_ok "$python"; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing python3, python3-venv and python3-pip with apt-get" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
    fi
fi
if ! python_ok "$python"; then
    echo "bootstrap: Handrail needs Python 3.11 or newer with the venv module." >&2
    echo "  On Debian or Ubuntu: apt-get install python3 python3-venv" >&2
    exit 1
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip --disable-pip-version-check -q install --upgrade pip
