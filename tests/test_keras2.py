"""`import rethink_bnn` selects Keras 2, or says exactly how to when it is too late."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _python(code, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environment.update(env, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environment, timeout=300)


def test_importing_first_gives_keras_2():
    result = _python("import rethink_bnn, tensorflow as tf; print(tf.keras.Model.__module__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("tf_keras")


def _each_use(prelude, *uses):
    """A script: `prelude`, then each use of the tf-keras front end in turn, printing
    the last line of its ImportError (or "no error")."""
    return prelude + f"""
for use in {uses!r}:
    try:
        exec(use)
    except ImportError as error:
        print(str(error).splitlines()[-1])
    else:
        print("no error")
"""


REFUSALS = _each_use(
    "import tensorflow\n"
    "import rethink_bnn  # the top level alone is fine: the Keras 3 front end runs beside it\n",
    "rethink_bnn.Bop", "import rethink_bnn.optimizers", "import rethink_bnn.initializers",
    "import rethink_bnn.models")


def test_tensorflow_imported_with_keras_3_is_an_error_that_says_what_to_do():
    """The tf-keras front end refuses it when first used, however it is reached."""
    result = _python(REFUSALS)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4  # each package refuses before it imports Larq
    for line in lines:
        assert line.startswith("rethink_bnn needs Keras 2") and "TF_USE_LEGACY_KERAS=1" in line


OUR_FINDERS = ("print([type(f).__name__ for f in sys.meta_path "
               "if type(f).__module__.startswith('rethink_bnn')])")
REGISTERED = ("import sys, tensorflow as tf\n"
              "names = tf.keras.utils.get_custom_objects()\n"
              "print(all(n in names for n in ('rethink_bnn>Bop', 'rethink_bnn>CEMA', "
              "'BinaryHeNormal', 'is_binary_variable', 'QuantDense')))")


@pytest.mark.parametrize("first", ["import rethink_bnn.tf_keras",
                                   "import rethink_bnn as rb; rb.Bop",
                                   "import tensorflow, rethink_bnn.tf_keras"])
def test_everything_a_saved_model_names_is_registered_by_the_tf_keras_entry_point(first):
    """h5 and SavedModel look objects up by name: `import rethink_bnn.tf_keras` (or a
    first use of a tf-keras name) registers ours and Larq's, whenever TensorFlow loads
    (after it, too, with the variable set before Python started)."""
    result = _python(f"{first}\n{REGISTERED}\n{OUR_FINDERS}", TF_USE_LEGACY_KERAS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-2:] == ["True", "[]"]  # and no import hook


LOADED = "import sys; print([m for m in ('tensorflow', 'tf_keras', 'larq') if m in sys.modules])"


@pytest.mark.parametrize("code, loaded", [
    # a module of ours that needs no TensorFlow loads none
    ("import rethink_bnn.experiments.runs.files", "[]"),
    # Keras 3 importing TensorFlow as its backend: the tf-keras front end stays unloaded
    ("import rethink_bnn.declarations, keras", "['tensorflow', 'tf_keras']"),
])
def test_nothing_is_loaded_that_is_not_asked_for_and_no_import_hook_is_ours(code, loaded):
    result = _python(f"{code}\n{LOADED}\n{OUR_FINDERS}", KERAS_BACKEND="tensorflow")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-2:] == [loaded, "[]"]


# Without the `tf` extra: TensorFlow, tf-keras and Larq hidden, as an environment with
# JAX or PyTorch alone has them (./setup.sh keras3 runs the Keras 3 front end there).
WITHOUT_TF_EXTRA = _each_use("""
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("tensorflow", "tf_keras", "larq"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
import rethink_bnn, rethink_bnn.declarations, rethink_bnn.experiments.runs.files  # need none of them
""", "rethink_bnn.Bop", "from rethink_bnn import callbacks", "import rethink_bnn.optimizers",
    "import rethink_bnn.models")


def test_without_the_tf_extra_a_tf_keras_name_names_the_extra_in_one_line():
    result = _python(WITHOUT_TF_EXTRA)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(" is ")[0] for line in lines] == [
        "rethink_bnn.Bop", "rethink_bnn.callbacks", "rethink_bnn.optimizers",
        "rethink_bnn.models"]
    for line in lines:
        assert line.endswith(' is the tf-keras front end (tensorflow, tf_keras, larq not '
                             'installed): pip install "rethink_bnn[tf]" (or use '
                             'rethink_bnn.keras3)'), line


def test_a_variable_the_user_set_is_left_as_it_is_and_a_tf_keras_use_says_what_to_do():
    """TF_USE_LEGACY_KERAS=0 chooses Keras 3: `import rethink_bnn` keeps it (the Keras 3
    front end works), and the tf-keras front end says in one line what to do."""
    script = _each_use("import os, rethink_bnn\nprint(os.environ['TF_USE_LEGACY_KERAS'])\n",
                       "rethink_bnn.Bop", "import rethink_bnn.optimizers",
                       "from rethink_bnn import keras3")
    result = _python(script, TF_USE_LEGACY_KERAS="0")
    assert result.returncode == 0, result.stderr
    variable, *refusals, keras3 = result.stdout.strip().splitlines()
    assert variable == "0" and keras3 == "no error" and len(refusals) == 2
    for line in refusals:
        assert "but TF_USE_LEGACY_KERAS=0 selects Keras 3: unset it or set it to 1" in line


@pytest.mark.experiments  # the command lines need the extra before anything else
def test_a_command_line_under_a_variable_that_chose_keras_3_says_what_to_do(tmp_path):
    cli = subprocess.run([sys.executable, "-m", "rethink_bnn.train", "demo", "run_dir=run"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "TF_USE_LEGACY_KERAS": "0",
                              "PYTHONPATH": str(Path(__file__).parents[1])})
    assert cli.returncode == 2 and cli.stderr.count("\n") == 1, cli.stderr[-2000:]
    assert "TF_USE_LEGACY_KERAS=0 selects Keras 3" in cli.stderr
    assert not list(tmp_path.iterdir())  # nothing written
