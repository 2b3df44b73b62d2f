"""`import rethink_bnn` selects Keras 2, or says exactly how to when it is too late."""

import os
import subprocess
import sys

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


@pytest.mark.parametrize("use", ["import rethink_bnn\nrethink_bnn.Bop",
                                 "import rethink_bnn.optimizers",
                                 "import rethink_bnn.initializers"])
def test_tensorflow_imported_with_keras_3_is_an_error_that_says_what_to_do(use):
    """The tf-keras front end refuses it when first used; the top level alone does not
    (the Keras 3 front end runs beside a TensorFlow wired to Keras 3)."""
    assert _python("import tensorflow\nimport rethink_bnn").returncode == 0
    result = _python(f"import tensorflow\n{use}")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: rethink_bnn needs Keras 2")
    assert "TF_USE_LEGACY_KERAS=1" in last


REGISTERED = ("import sys, tensorflow as tf\n"
              "names = tf.keras.utils.get_custom_objects()\n"
              "print(all(n in names for n in ('rethink_bnn>Bop', 'rethink_bnn>CEMA', "
              "'BinaryHeNormal', 'is_binary_variable', 'QuantDense')))")


@pytest.mark.parametrize("first", ["import rethink_bnn", "import rethink_bnn.optimizers",
                                   "import rethink_bnn.initializers",
                                   "import rethink_bnn, larq", "import rethink_bnn.models"])
def test_everything_a_saved_model_names_is_registered_however_tf_keras_got_loaded(first):
    """h5 and SavedModel look objects up by name: the top level registers ours (and
    Larq's) as soon as tf-keras is loaded, whoever loads it."""
    result = _python(f"{first}\n{REGISTERED}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_tensorflow_imported_with_the_variable_set_is_fine():
    result = _python("import tensorflow\nimport rethink_bnn; print('ok')", TF_USE_LEGACY_KERAS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
