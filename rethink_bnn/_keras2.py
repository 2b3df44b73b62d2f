"""Make `tf.keras` resolve to Keras 2 (tf-keras) before TensorFlow is imported, and keep
TensorFlow's start-up chatter off our command lines.

Larq is written for Keras 2. TensorFlow >= 2.16 picks Keras 3 unless the environment
variable `TF_USE_LEGACY_KERAS` is set *when TensorFlow is first imported*: it reads the
variable once and wires `tensorflow.keras` accordingly, so setting it afterwards is not
enough. We therefore set it when TensorFlow is not yet imported and the user has not
set it, and otherwise refuse to run on Keras 3 with an error that says how to fix it.
"""

import contextlib
import importlib.abc
import importlib.util
import inspect
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
        if (started_as_cli() and "--debug" not in sys.argv
                and importlib.util.find_spec("tensorflow") is not None):
            _import_tensorflow_quietly()  # (without it, the CLI names the extra it needs)


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
    tf_module = sys.modules.get("tensorflow")
    if _unselected or user_chose_keras3() is not None or (
            tf_module is not None and not tensorflow_uses_keras2(tf_module)):
        # Nor does the registration hook stay: it serves the tf-keras front end only
        # (whose modules still register their own classes if imported after this).
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _FrontEndHook)]


def ensure_keras2():
    """Select Keras 2 for TensorFlow, or raise ImportError if it is too late to."""
    select_keras2()
    tf_module = sys.modules.get("tensorflow")
    if (tf_module is not None and not tensorflow_uses_keras2(tf_module)) or (
            tf_module is None and user_chose_keras3() is not None):
        raise ImportError(keras2_refusal())
    refusal = tf_keras_refusal()
    if refusal:
        raise ImportError(refusal)


def register_when_loaded(register, triggers, front_end):
    """Call `register()` once, as soon as it is safe, after TensorFlow, tf-keras or Larq
    (`triggers`: top-level names) has been imported, by whomever; now if one is loaded.
    And refuse, with `ensure_keras2`'s message, an import of Larq by one of our modules
    (`front_end`: a predicate of a module name) on a TensorFlow wired to Keras 3.

    Safe means that no module of those families, of Keras or of ours is half imported:
    `import tensorflow` imports tf-keras from TensorFlow's own __init__, `import keras`
    imports TensorFlow (its backend) from Keras', and `import rethink_bnn.optimizers`
    imports TensorFlow from ours, where registering would import a half-defined module.
    So each import of a trigger or of our modules (the module's own loader, whose
    exec_module gains the check) tries again when it completes, and the outermost
    completes in a safe place. The search for the module is left to the finders after
    this one, so that theirs (a blocker, an editable install) still decide."""
    hook = _FrontEndHook(register, triggers, front_end)
    sys.meta_path.insert(0, hook)
    if any(name.partition(".")[0] in triggers for name in sys.modules):
        hook.pending = True
        hook.try_now()


class _FrontEndHook(importlib.abc.MetaPathFinder):
    def __init__(self, register, triggers, front_end):
        self.register, self.triggers, self.front_end = register, triggers, front_end
        self.done = self.pending = False

    def _half_imported(self, name):
        top = name.partition(".")[0]
        return top in self.triggers or top == "keras" or name.startswith("rethink_bnn.")

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "larq" and _importing(self.front_end):
            tf_module = sys.modules.get("tensorflow")
            if tf_module is not None and not tensorflow_uses_keras2(tf_module):
                raise ImportError(keras2_refusal())
        if self.done or not (fullname in self.triggers or self.front_end(fullname)):
            return None
        spec = self._find_after_me(fullname, path, target)
        loader = getattr(spec, "loader", None)
        if loader is None or isinstance(loader, type) or not hasattr(loader, "exec_module"):
            return spec  # a class as loader (builtins, frozen) is shared: left alone
        exec_module = loader.exec_module

        def exec_then_register(module):
            try:
                exec_module(module)
            except ModuleNotFoundError as error:
                refusal = self._refusal(fullname, error)
                if refusal is None:
                    raise
                raise ImportError(refusal) from None
            self.pending = self.pending or fullname in self.triggers
            self.try_now()

        loader.exec_module = exec_then_register  # this module's loader only
        return spec

    def _refusal(self, fullname, error):
        """One line naming the `tf` extra for a module of our tf-keras front end that
        failed to import for lack of TensorFlow, tf-keras or Larq (said once, by the
        outermost of ours being imported: the module the user asked for)."""
        if (fullname in self.triggers or (error.name or "").partition(".")[0]
                not in TF_KERAS_MODULES or _importing(self.front_end)):
            return None
        return tf_keras_refusal(fullname)

    def _find_after_me(self, fullname, path, target):
        finders = sys.meta_path
        if self in finders:
            finders = finders[finders.index(self) + 1:]
        for finder in finders:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                return spec
        return None

    def try_now(self):
        if self.done or not self.pending or _importing(self._half_imported):
            return
        self.done = True
        self.register()


def _importing(family):
    """Whether the top level of a module whose name `family` accepts is running, i.e.
    whether such a module is being imported."""
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_name == "<module>" and family(frame.f_globals.get("__name__", "")):
            return True
        frame = frame.f_back
    return False


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
