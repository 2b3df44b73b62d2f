"""Without the experiments extra the library imports and the command lines say in one
line what to install (exit 2). The extra's modules are hidden here by a sitecustomize
that marks them missing in sys.modules, as an environment without them has them."""

import importlib.util
import os
import subprocess
import sys

import pytest

from rethink_bnn.experiments.extra import (KERAS3_TASKS_INSTALL, MODULES, PLOT_MODULES,
                                           TASK_MODULES, TF_KERAS_MODULES)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HIDE = "import sys\nfor name in {names!r}:\n    sys.modules[name] = None\n"


def _without_extra(tmp_path, *arguments, hidden=MODULES):
    (tmp_path / "sitecustomize.py").write_text(HIDE.format(names=list(hidden)))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *arguments], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("cli, args, hidden, needs, command", [
    # what each command line needs, named by the command line
    ("train", ["demo"], ("zookeeper", "matplotlib"), TASK_MODULES, "python -m rethink_bnn.train"),
    ("plot", ["--help"], ("zookeeper", "matplotlib"), PLOT_MODULES, "rethink_bnn.plot"),
    ("export", ["--help"], ("zookeeper", "matplotlib"), MODULES, "rethink_bnn.export"),
    # a task on the tf-keras front end needs the whole extra, a Keras 3 one zookeeper only
    pytest.param("train", ["demo"], ("larq_zoo",), TF_KERAS_MODULES, "front_end=tf_keras",
                 marks=pytest.mark.skipif(importlib.util.find_spec("zookeeper") is None,
                                          reason="without zookeeper the CLI stops before")),
])
def test_each_cli_names_the_extra_in_one_line_and_exits_2(tmp_path, cli, args, hidden, needs,
                                                          command):
    result = _without_extra(tmp_path, "-m", f"rethink_bnn.{cli}", *args, hidden=hidden)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    missing = [m for m in needs if m in hidden
               or importlib.util.find_spec(m) is None]  # (the library's own CI lacks all)
    keras3 = (f"; for the tasks on Keras 3 alone: {KERAS3_TASKS_INSTALL}"
              if set(missing) <= set(TASK_MODULES) else "")
    if command == "front_end=tf_keras":
        keras3 += "; or train on Keras 3 (JAX, PyTorch): front_end=keras3"
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {command} needs the experiments extra ({', '.join(missing)} not installed): "
        f'pip install "rethink_bnn[experiments]" (it brings the tested stack, TensorFlow '
        f"2.19){keras3}.")
    assert not [p for p in tmp_path.iterdir() if p.name != "sitecustomize.py"]  # wrote nothing


def test_the_library_imports_and_trains_without_the_extra(tmp_path):
    probe = (
        "import sys, numpy as np, rethink_bnn as rb, tensorflow as tf, larq as lq\n"
        "assert not {'zookeeper', 'tensorflow_datasets', 'larq_zoo'} & {\n"
        "    k for k, v in sys.modules.items() if v is not None}\n"
        "model = tf.keras.Sequential([tf.keras.Input((4,)), lq.layers.QuantDense(\n"
        "    3, kernel_quantizer=lq.quantizers.NoOp(precision=1),\n"
        "    kernel_initializer=rb.initializers.BinaryGlorotUniform())])\n"
        "model.compile(rb.CaseOptimizer((rb.is_binary_variable, rb.Bop()),\n"
        "              default_optimizer=tf.keras.optimizers.Adam()), loss='mse')\n"
        "model.fit(np.ones((8, 4)), np.ones((8, 3)), verbose=0, callbacks=[rb.FlipLogger()])\n"
        "assert set(np.unique(model.get_weights()[0])) <= {-1.0, 1.0}\n"
        "try:\n"
        "    import rethink_bnn.plot\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = _without_extra(tmp_path, "-c", probe)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'rethink_bnn.plot needs the experiments extra' in result.stdout
    assert 'pip install "rethink_bnn[experiments]"' in result.stdout


@pytest.mark.experiments
@pytest.mark.parametrize("cli, args", [("train", ["--help"]), ("train", ["demo", "--help"]),
                                       ("train", ["no_such_task"]), ("plot", ["--help"])])
def test_what_never_trains_never_imports_tensorflow(tmp_path, cli, args):
    """TensorFlow (3 CPU-seconds) is imported where a tf-keras module first needs it,
    not when a command line starts."""
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", f"rethink_bnn.{cli}",
                             *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode in (0, 2), result.stderr[-3000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "rethink_bnn" in imported and "tensorflow" not in imported
