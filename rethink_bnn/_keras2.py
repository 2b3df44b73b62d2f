"""Make `tf.keras` resolve to Keras 2 (tf-keras) before TensorFlow is imported, and keep
TensorFlow's start-up chatter off our command lines.

Larq is written for Keras 2. TensorFlow >= 2.16 picks Keras 3 unless the environment
variable `TF_USE_LEGACY_KERAS` is set *when TensorFlow is first imported*: it reads the
variable once and wires `tensorflow.keras` accordingly, so setting it afterwards is not
enough. We therefore set it when TensorFlow is not yet imported and the user has not
set it, and otherwise refuse to run on Keras 3 with an error that says how to fix it.
"""

import contextlib
import importlib.util
import json
import logging
import os
import sys
import tempfile
import warnings

_FIX = (
    "set the environment variable TF_USE_LEGACY_KERAS=1 before Python starts "
    "(e.g. `export TF_USE_LEGACY_KERAS=1`), or `import rethink_bnn` before anything "
    "imports tensorflow"
)
# The command lines of this package: started as `python -m rethink_bnn.<name>`.
CLI_MODULES = ("rethink_bnn.train", "rethink_bnn.plot", "rethink_bnn.export")
# What the tf-keras front end imports beyond `pip install rethink_bnn`: its `tf` extra.
TF_KERAS_MODULES = ("tensorflow", "tf_keras", "larq")


def tf_keras_refusal(name=None):
    """The one line an ImportError says when the tf-keras front end (`name`, one of its
    names or modules) is used without its extra installed; None when it is installed."""
    missing = [module for module in TF_KERAS_MODULES if not _installed(module)]
    if not missing:
        return None
    subject = f"{name} is the tf-keras front end" if name else "rethink_bnn's tf-keras front end"
    install = 'pip install "rethink_bnn[tf]"'
    if missing == ["tf_keras"]:  # beside a TensorFlow: tf-keras of its minor version
        install += f' "tf-keras~={_tensorflow_minor()}.0"'
    return (f"{subject} ({', '.join(missing)} not installed): {install} "
            "(or use rethink_bnn.keras3)")


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # an import blocker refusing it; a half-made module
        return False


def select_keras2():
    """Make `tf.keras` Keras 2 for a TensorFlow imported from now on (the environment
    variable only: nothing is imported, so `rethink_bnn.keras3` stays free of
    TensorFlow). A TensorFlow imported already is left as it is: `ensure_keras2`, run
    by the tf-keras front end, refuses it if it wired Keras 3."""
    global _selected, _unselected
    if "tensorflow" not in sys.modules:
        if _selected or "TF_USE_LEGACY_KERAS" not in os.environ:  # never the user's value
            os.environ["TF_USE_LEGACY_KERAS"] = "1"
            _selected = True
        _unselected = False


_selected = False  # whether select_keras2 set the variable (rather than the user)
_unselected = False  # whether rethink_bnn.keras3 removed it again


def user_chose_keras3():
    """The value of TF_USE_LEGACY_KERAS if the user set it to one that selects Keras 3
    (TensorFlow reads "1", "true" and "True" as Keras 2), else None."""
    value = os.environ.get("TF_USE_LEGACY_KERAS")
    return None if _selected or value is None or value in _KERAS2_VALUES else value


_KERAS2_VALUES = ("1", "true", "True")


def keras2_refusal():
    """Why the tf-keras front end cannot run on the TensorFlow imported, and the fix."""
    chosen = user_chose_keras3()
    if chosen is not None:
        return (f"rethink_bnn's tf-keras front end needs Keras 2 (tf-keras), but "
                f"TF_USE_LEGACY_KERAS={chosen} selects Keras 3: unset it or set it to 1 "
                "before Python starts, or use rethink_bnn.keras3, the front end for Keras 3.")
    if _unselected:
        return ("rethink_bnn's tf-keras front end needs Keras 2 (tf-keras), but TensorFlow "
                "was imported with Keras 3 after rethink_bnn.keras3 (which leaves tf.keras "
                "to Keras 3): use the two front ends in separate processes, or set the "
                "environment variable TF_USE_LEGACY_KERAS=1 before Python starts.")
    return ("rethink_bnn needs Keras 2 (tf-keras), but TensorFlow was already imported "
            f"with Keras 3: {_FIX}. (rethink_bnn.keras3 is the front end for Keras 3.)")


def unselect_keras2():
    """Undo `select_keras2` where it set the variable and TensorFlow is not imported
    yet: the Keras 3 front end leaves `tf.keras` to Keras 3, as TensorFlow picks it."""
    global _selected, _unselected
    if _selected and "tensorflow" not in sys.modules:
        os.environ.pop("TF_USE_LEGACY_KERAS", None)
        _selected, _unselected = False, True


def ensure_keras2(name=None):
    """Select Keras 2 for TensorFlow, or raise ImportError (one line) if it is too late
    to, or if the `tf` extra is missing. Every module of the tf-keras front end calls it
    with its `__name__` before it imports TensorFlow, tf-keras or Larq (or its package
    does): a plain call where the front end starts, no import hook (tests/test_structure.py
    checks that each one does)."""
    select_keras2()
    tf_module = sys.modules.get("tensorflow")
    if (tf_module is not None and not tensorflow_uses_keras2(tf_module)) or (
            tf_module is None and user_chose_keras3() is not None):
        raise ImportError(keras2_refusal())
    refusal = tf_keras_refusal(name)
    if refusal:
        raise ImportError(refusal)
    quiet_tensorflow_for_cli()


def quiet_tensorflow_for_cli():
    """In one of our command lines (not `--debug`), import TensorFlow quietly where it is
    first needed: not up front, so that `--help`, a usage error (an unknown task or
    key), `plot` of training runs and a Keras 3 run on JAX or PyTorch never pay its 3
    CPU-seconds. (A tf-keras task loads it before it checks its fields: the check needs
    the replicas.)"""
    if ("tensorflow" not in sys.modules and started_as_cli() and "--debug" not in sys.argv
            and importlib.util.find_spec("tensorflow") is not None):
        _import_tensorflow_quietly()


def _tensorflow_minor():
    import importlib.metadata

    try:
        return ".".join(importlib.metadata.version("tensorflow").split(".")[:2])
    except importlib.metadata.PackageNotFoundError:
        return "2.21"


def tensorflow_uses_keras2(tf_module):
    """Whether an imported TensorFlow wired `tf.keras` to tf-keras (it reads
    TF_USE_LEGACY_KERAS once, at its import). TensorFlow's private flag: here, not in
    tf_internals, which is a tf-keras module (tests/test_tf_internals.py checks it)."""
    return bool(getattr(tf_module, "_tf_uses_legacy_keras", False))


def keras3_backend():
    """The backend Keras 3 will load, as it chooses it: KERAS_BACKEND, else the
    keras.json under KERAS_HOME (default ~/.keras), else TensorFlow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):  # as Keras does
        base = "/tmp"
    home = os.environ.get("KERAS_HOME", os.path.join(base, ".keras"))
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return str(json.load(f).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def started_as_cli():
    """Whether this process is one of our command lines (`python -m rethink_bnn.X`)."""
    argv = list(getattr(sys, "orig_argv", []))
    return any(a == "-m" and b in CLI_MODULES for a, b in zip(argv, argv[1:]))


def _import_tensorflow_quietly():
    """Import TensorFlow with its C++ start-up messages silenced (CUDA factories,
    `cuInit`, oneDNN, CPU features: a dozen lines, several marked as errors, on every
    CPU-only call, `--help` included). They are written to file descriptor 2 before
    TensorFlow's own log level applies, so stderr is parked in a file meanwhile and
    shown only if the import fails. `--debug` keeps everything."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as parked:
        os.dup2(parked.fileno(), 2)
        try:
            import tensorflow as tf
        except BaseException:
            os.dup2(saved, 2)
            parked.seek(0)
            sys.stderr.write(parked.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    tf.get_logger().setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    # Deprecation notes of our dependencies are for their users' code, not ours.
    for module in ("tensorflow", "tf_keras", "tensorflow_datasets", "larq", "keras"):
        warnings.filterwarnings("ignore", module=module)
