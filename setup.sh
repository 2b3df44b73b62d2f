#!/usr/bin/env bash
# Create .venv with the pinned stack (requirements.lock) and rethink_bnn with its
# experiments extra in it.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}
if [ -z "$PYTHON" ]; then
  echo "setup.sh: no python3 found; install Python 3.11 or set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$version" != "3.11" ]; then
  echo "setup.sh: note: requirements.lock was made on Python 3.11, $PYTHON is $version" >&2
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  -c requirements.lock -e ".[experiments,test]"
