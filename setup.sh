#!/usr/bin/env bash
# ./setup.sh       .venv: the pinned stack (requirements.lock) and rethink_bnn with its
#                  experiments extra (TensorFlow 2.19), and PyTorch's CPU build (named
#                  explicitly: torch==2.13.0 alone resolves to the CUDA build, several GB)
#                  for the Keras 3 front end's tests on that backend.
# ./setup.sh core  .venv-core: the tf-keras front end alone beside the newest TensorFlow we
#                  test (requirements-core.lock, TensorFlow 2.21), installed as a user
#                  would: the environment first, then rethink_bnn[tf], which must change
#                  none of it.
# ./setup.sh keras3  .venv-keras3: the Keras 3 front end today (requirements-keras3.lock:
#                  jax 0.10.2, PyTorch 2.13.0's CPU build, numpy 2, no TensorFlow) and
#                  zookeeper for its tasks (without its pins: protobuf < 3.21 would break
#                  tensorboard), then rethink_bnn[jax,torch], which must change none of it.
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

# The environment of lock file $1 in venv $2 (and packages $4, installed without their
# dependencies), then rethink_bnn with extras $3 as a user installs it (no constraints:
# pip may change what it likes), and a failure if it did.
install_beside() {
  local lock=$1 venv=$2 package=$3 no_deps=${4:-}
  [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
  pip_install "$venv" -r "$lock"
  if [ -n "$no_deps" ]; then pip_install "$venv" --no-deps $no_deps; fi
  "$venv/bin/python" -m pip freeze --exclude-editable > "$venv/before.txt"
  pip_install "$venv" -e "$package"
  "$venv/bin/python" -m pip freeze --exclude-editable > "$venv/after.txt"
  if ! diff -u "$venv/before.txt" "$venv/after.txt" >&2; then
    echo "setup.sh: pip install -e \"$package\" changed the environment above (-: before," \
         "+: after); rethink_bnn's requirements must accept $lock." >&2
    exit 1
  fi
}

case "${1:-}" in
  "")
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
    pip_install .venv -c requirements.lock -e ".[experiments,test,torch,docs]" "torch==2.13.0+cpu"
    ;;
  core)
    install_beside requirements-core.lock .venv-core ".[tf,test]"
    ;;
  keras3)
    install_beside requirements-keras3.lock .venv-keras3 ".[jax,torch,test-keras3]" \
      zookeeper==1.4.0
    ;;
  *)
    echo "setup.sh: unknown argument '$1': run ./setup.sh (the experiments)," \
         "./setup.sh core (the tf-keras front end alone) or ./setup.sh keras3 (the Keras 3" \
         "front end alone)" >&2
    exit 2
    ;;
esac
