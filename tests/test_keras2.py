"""`import rethink_bnn` selects Keras 2, or says exactly how to when it is too late."""

import os
import subprocess
import sys


def _python(code, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environment.update(env, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environment, timeout=300)


def test_importing_first_gives_keras_2():
    result = _python("import rethink_bnn, tensorflow as tf; print(tf.keras.Model.__module__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("tf_keras")


def test_tensorflow_imported_with_keras_3_is_an_error_that_says_what_to_do():
    result = _python("import tensorflow\nimport rethink_bnn")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: rethink_bnn needs Keras 2")
    assert "TF_USE_LEGACY_KERAS=1" in last


def test_tensorflow_imported_with_the_variable_set_is_fine():
    result = _python("import tensorflow\nimport rethink_bnn; print('ok')", TF_USE_LEGACY_KERAS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
