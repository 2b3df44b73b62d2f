"""Make `tf.keras` resolve to Keras 2 (tf-keras) before TensorFlow is imported, and keep
TensorFlow's start-up chatter off our command lines.

Larq is written for Keras 2. TensorFlow >= 2.16 picks Keras 3 unless the environment
variable `TF_USE_LEGACY_KERAS` is set *when TensorFlow is first imported*: it reads the
variable once and wires `tensorflow.keras` accordingly, so setting it afterwards is not
enough. We therefore set it when TensorFlow is not yet imported, and otherwise refuse
to run on Keras 3 with an error that says how to fix it.
"""

import contextlib
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


def ensure_keras2():
    """Select Keras 2 for TensorFlow, or raise ImportError if it is too late to."""
    tf_module = sys.modules.get("tensorflow")
    if tf_module is None:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        if started_as_cli() and "--debug" not in sys.argv:
            _import_tensorflow_quietly()
    elif not _uses_keras2(tf_module):
        raise ImportError(
            "rethink_bnn needs Keras 2 (tf-keras), but TensorFlow was already imported "
            f"with Keras 3: {_FIX}."
        )
    try:
        import tf_keras  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "rethink_bnn needs the tf-keras package (Keras 2 for TensorFlow), of "
            f"TensorFlow's minor version: `pip install \"tf-keras~={_tensorflow_minor()}.0\"`."
        ) from error


def _tensorflow_minor():
    import importlib.metadata

    try:
        return ".".join(importlib.metadata.version("tensorflow").split(".")[:2])
    except importlib.metadata.PackageNotFoundError:
        return "2.21"


def _uses_keras2(tf_module):
    from rethink_bnn.tf_internals import tensorflow_uses_keras2  # TensorFlow is loaded

    return tensorflow_uses_keras2(tf_module)


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
