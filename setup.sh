#!/usr/bin/env bash
# ./setup.sh       .venv: the pinned stack (requirements.lock) and rethink_bnn with its
#                  experiments extra (TensorFlow 2.19), and PyTorch's CPU build for the
#                  Keras 3 front end's tests on that backend.
# ./setup.sh core  .venv-core: the library alone beside the newest TensorFlow we test
#                  (requirements-core.lock, TensorFlow 2.21), installed as a user would:
#                  the environment first, then rethink_bnn, which must change none of it.
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
  echo "setup.sh: note: the lock files were made on Python 3.11, $PYTHON is $version" >&2
fi
pip_install() { "$1/bin/python" -m pip install --quiet --disable-pip-version-check "${@:2}"; }

case "${1:-}" in
  "")
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
    pip_install .venv -c requirements.lock -e ".[experiments,test,torch]"
    ;;
  core)
    [ -x .venv-core/bin/python ] || "$PYTHON" -m venv .venv-core
    pip_install .venv-core -r requirements-core.lock
    .venv-core/bin/python -m pip freeze --exclude-editable > .venv-core/before.txt
    pip_install .venv-core -e ".[test]"  # no constraints: pip may change what it likes
    .venv-core/bin/python -m pip freeze --exclude-editable > .venv-core/after.txt
    if ! diff -u .venv-core/before.txt .venv-core/after.txt >&2; then
      echo "setup.sh: installing rethink_bnn changed the environment above (-: before," \
           "+: after); the library's requirements must accept requirements-core.lock." >&2
      exit 1
    fi
    ;;
  *)
    echo "setup.sh: unknown argument '$1': run ./setup.sh (the experiments) or" \
         "./setup.sh core (the library alone)" >&2
    exit 2
    ;;
esac
